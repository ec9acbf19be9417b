//! Store roles and migrations recorded in the catalog.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::{from_text, now, to_text};
use super::{Catalog, CatalogError, column};

/// Which store holds each role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Roles {
    /// The primary store's name.
    pub primary: String,
    /// The backup store's name.
    pub backup: String,
}

/// A migration of every file to another store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Migration {
    /// The migration's id.
    pub id: String,
    /// The store every file is copied to.
    pub target: String,
    /// The role the target takes once every file is there.
    pub role: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

fn query_error(operation: &'static str) -> impl Fn(sqlx::Error) -> CatalogError {
    move |source| CatalogError::Query { operation, source }
}

impl Catalog {
    /// The roles recorded by a migration or failover, overriding `configured` role by
    /// role.
    pub async fn roles(&self, configured: &Roles) -> Result<Roles, CatalogError> {
        let rows = sqlx::query("SELECT role, store FROM store_role")
            .fetch_all(&self.pool)
            .await
            .map_err(query_error("read roles"))?;
        let mut roles = configured.clone();
        for row in &rows {
            let role: String = column(row, "role")?;
            let store: String = column(row, "store")?;
            match role.as_str() {
                "primary" => roles.primary = store,
                _ => roles.backup = store,
            }
        }
        Ok(roles)
    }

    /// Records `roles` in the catalog; every instance picks them up.
    pub async fn set_roles(&self, roles: &Roles) -> Result<(), CatalogError> {
        let mut tx = self.pool.begin().await.map_err(query_error("begin a transaction"))?;
        write_roles(&mut tx, roles).await?;
        tx.commit().await.map_err(query_error("commit roles"))
    }

    /// The running migration, if any.
    pub async fn running_migration(&self) -> Result<Option<Migration>, CatalogError> {
        let row = sqlx::query(
            "SELECT id, target, role, started_at FROM migration WHERE state = 'running'
             ORDER BY started_at LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(query_error("read the running migration"))?;
        let Some(row) = row else { return Ok(None) };
        let started_at: String = column(&row, "started_at")?;
        Ok(Some(Migration {
            id: column(&row, "id")?,
            target: column(&row, "target")?,
            role: column(&row, "role")?,
            started_at: from_text(&started_at).unwrap_or_else(now),
        }))
    }

    /// Starts a migration to `target` for `role`, or returns the one already running.
    pub async fn start_migration(
        &self,
        target: &str,
        role: &str,
    ) -> Result<Migration, CatalogError> {
        if let Some(running) = self.running_migration().await? {
            return Ok(running);
        }
        let migration = Migration {
            id: uuid::Uuid::now_v7().to_string(),
            target: target.to_owned(),
            role: role.to_owned(),
            started_at: now(),
        };
        sqlx::query(
            "INSERT INTO migration (id, target, role, state, started_at)
             VALUES ($1, $2, $3, 'running', $4)",
        )
        .bind(&migration.id)
        .bind(&migration.target)
        .bind(&migration.role)
        .bind(to_text(migration.started_at))
        .execute(&self.pool)
        .await
        .map_err(query_error("start a migration"))?;
        Ok(migration)
    }

    /// Marks migration `id` done and records `roles`, in one transaction.
    pub async fn finish_migration(&self, id: &str, roles: &Roles) -> Result<(), CatalogError> {
        let mut tx = self.pool.begin().await.map_err(query_error("begin a transaction"))?;
        write_roles(&mut tx, roles).await?;
        sqlx::query("UPDATE migration SET state = 'done', finished_at = $1 WHERE id = $2")
            .bind(to_text(now()))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(query_error("finish a migration"))?;
        tx.commit().await.map_err(query_error("commit a migration"))
    }
}

async fn write_roles(conn: &mut sqlx::AnyConnection, roles: &Roles) -> Result<(), CatalogError> {
    let now = to_text(now());
    for (role, store) in [("primary", &roles.primary), ("backup", &roles.backup)] {
        sqlx::query(
            "INSERT INTO store_role (role, store, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (role) DO UPDATE SET store = excluded.store,
               updated_at = excluded.updated_at",
        )
        .bind(role)
        .bind(store)
        .bind(&now)
        .execute(&mut *conn)
        .await
        .map_err(query_error("record a role"))?;
    }
    Ok(())
}
