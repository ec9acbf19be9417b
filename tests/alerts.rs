//! Health alerts: a store going down and coming back is reported to a webhook.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use twinstore::config::Secret;
use twinstore::engine::HealthMonitor;

use support::TwoGarages;

/// A webhook receiver on loopback: answers 500 to the first request (to exercise the
/// retries) and 200 after, and passes each JSON body on.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let (sender, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for request in 0.. {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = Vec::new();
            let body = loop {
                let mut chunk = [0u8; 4096];
                let n = socket.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the request ended early");
                buffer.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buffer).to_string();
                let Some(end) = text.find("\r\n\r\n") else { continue };
                let length: usize = text[..end]
                    .lines()
                    .find_map(|line| {
                        line.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if buffer.len() >= end + 4 + length {
                    break buffer[end + 4..end + 4 + length].to_vec();
                }
            };
            let status = if request == 0 { "500 Internal Server Error" } else { "200 OK" };
            let reply =
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            socket.write_all(reply.as_bytes()).await.unwrap();
            sender.send(serde_json::from_slice(&body).unwrap()).unwrap();
        }
    });
    (url, received)
}

async fn next(received: &mut mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(Duration::from_secs(15), received.recv())
        .await
        .expect("an alert within 15 s")
        .unwrap()
}

#[tokio::test]
async fn the_webhook_hears_when_a_store_goes_down_and_comes_back() {
    let (url, mut received) = receiver().await;
    let mut setup = TwoGarages::start();
    setup.config.alert_webhook = Some(Secret::new(url));
    let twinstore = Arc::new(setup.open().await);
    let mut monitor = HealthMonitor::new(twinstore.clone());

    let health = monitor.probe().await;
    assert!(health.primary.available && health.backup.available);

    setup.backup.stop();
    assert!(!monitor.probe().await.backup.available);
    let refused = next(&mut received).await;
    let retried = next(&mut received).await;
    assert_eq!(refused, retried, "the alert is sent again after a 500");
    assert_eq!(retried["state"], "down");
    assert_eq!(retried["store"], "garage-b");
    assert_eq!(retried["role"], "backup");
    assert!(retried["text"].as_str().unwrap().contains("backup store garage-b"), "{retried}");

    // No change, no alert.
    monitor.probe().await;

    // A copy that failed while the backup was down waits for its retry...
    let file = twinstore.put("during.txt", support::body(b"written while down", 4)).await;
    let file = file.unwrap();
    let options = twinstore::engine::WorkerOptions {
        backoff_base: Duration::from_secs(60),
        ..Default::default()
    };
    let worker = twinstore::engine::Worker::new(twinstore.clone(), options);
    assert_eq!(worker.run_until_idle().await.unwrap(), 1);
    assert_eq!(worker.run_until_idle().await.unwrap(), 0, "backing off for about a minute");
    setup.backup.restart();
    let health = monitor.probe().await;
    assert!(health.backup.available, "{health:?}");
    let up = next(&mut received).await;
    assert_eq!(up["state"], "up");
    assert_eq!(up["store"], "garage-b");
    assert!(received.try_recv().is_err(), "one alert per change");

    // ...until the monitor sees the backup come back, which makes it due at once.
    assert_eq!(worker.run_until_idle().await.unwrap(), 1);
    let record = twinstore.file(&file.id).await.unwrap();
    assert_eq!(record.copy_in("garage-b").unwrap().state, twinstore::CopyState::Stored);

    let probes = twinstore.catalog().recent_probes("garage-b", 10).await.unwrap();
    let states: Vec<bool> = probes.iter().map(|p| p.available).collect();
    assert_eq!(states, [true, false, false, true], "newest first");
}
