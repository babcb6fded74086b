use std::sync::mpsc;
use std::thread::JoinHandle;

use rdkafka::mocking::MockCluster;

/// librdkafka's mock cluster on loopback. It lives on a thread of its own because the handle is not
/// `Send`; dropping this value stops it.
pub struct EmbeddedKafka {
    bootstrap: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedKafka {
    /// Starts a mock cluster of `brokers` brokers with `topic` already created.
    pub fn start(brokers: i32, topic: &str, partitions: i32) -> anyhow::Result<EmbeddedKafka> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let topic = topic.to_string();
        let thread = std::thread::Builder::new()
            .name("mock-kafka".into())
            .spawn(move || {
                let started = MockCluster::new(brokers).and_then(|mc| {
                    // The mock cluster does not implement CreateTopics; create it directly.
                    mc.create_topic(&topic, partitions, 1.min(brokers))?;
                    Ok(mc)
                });
                match started {
                    Ok(mc) => {
                        let _ = ready_tx.send(Ok(mc.bootstrap_servers()));
                        let _ = stop_rx.recv();
                        drop(mc);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })?;
        let bootstrap = ready_rx
            .recv()?
            .map_err(|e| anyhow::anyhow!("starting the mock Kafka cluster: {e}"))?;
        Ok(EmbeddedKafka {
            bootstrap,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The scenario's brokers, or (when it names none) a mock cluster started with its topic.
    pub fn unless_named(
        k: &crate::scenario::Kafka,
    ) -> anyhow::Result<(String, Option<EmbeddedKafka>)> {
        match &k.brokers {
            Some(b) => Ok((b.clone(), None)),
            None => {
                let e = EmbeddedKafka::start(1, &k.topic, k.partitions as i32)?;
                Ok((e.bootstrap_servers().to_string(), Some(e)))
            }
        }
    }

    /// `host:port,...` for bootstrap.servers.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }
}

impl Drop for EmbeddedKafka {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
