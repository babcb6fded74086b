use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

/// A fault to inject into the mock cluster, through librdkafka's own mock fault injection.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The next requests of this API fail with these errors, one each, in order.
    RequestErrors {
        api: RDKafkaApiKey,
        errors: Vec<RDKafkaRespErr>,
    },
    /// The broker stops answering (connections are closed and refused).
    BrokerDown(i32),
    BrokerUp(i32),
    /// Every response of the broker is delayed this much.
    RoundTrip(i32, Duration),
    /// The partition's leadership moves to this broker: clients still sending to or fetching
    /// from the old leader are told NOT_LEADER_OR_FOLLOWER and look the leader up again.
    Leader {
        topic: String,
        partition: i32,
        broker: i32,
    },
}

enum Command {
    Fault(Fault, mpsc::Sender<Result<(), String>>),
}

/// librdkafka's mock cluster on loopback. It lives on a thread of its own because the handle is not
/// `Send`; dropping this value stops it.
pub struct EmbeddedKafka {
    bootstrap: String,
    stop: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedKafka {
    /// Starts a mock cluster of `brokers` brokers with `topic` already created.
    pub fn start(brokers: i32, topic: &str, partitions: i32) -> anyhow::Result<EmbeddedKafka> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<Command>();
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
                        // Serves fault injections until the handle is dropped.
                        while let Ok(Command::Fault(f, reply)) = stop_rx.recv() {
                            let res = match f {
                                Fault::RequestErrors { api, errors } => {
                                    mc.request_errors(api, &errors);
                                    Ok(())
                                }
                                Fault::BrokerDown(b) => mc.broker_down(b),
                                Fault::BrokerUp(b) => mc.broker_up(b),
                                Fault::RoundTrip(b, d) => mc.broker_round_trip_time(b, d),
                                Fault::Leader {
                                    topic,
                                    partition,
                                    broker,
                                } => mc.partition_leader(&topic, partition, Some(broker)),
                            };
                            let _ = reply.send(res.map_err(|e| e.to_string()));
                        }
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
        k: &crate::config::Kafka,
    ) -> anyhow::Result<(String, Option<EmbeddedKafka>)> {
        match k.target() {
            crate::config::KafkaTarget::Brokers(b) => Ok((b.to_string(), None)),
            crate::config::KafkaTarget::Embedded => {
                let e = EmbeddedKafka::start(1, &k.topic, k.partitions as i32)?;
                Ok((e.bootstrap_servers().to_string(), Some(e)))
            }
        }
    }

    /// Injects a fault (tests: broker down, request errors, added round-trip time).
    pub fn inject(&self, fault: Fault) -> anyhow::Result<()> {
        let (tx, rx) = mpsc::channel();
        self.stop
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the mock cluster is stopped"))?
            .send(Command::Fault(fault, tx))
            .map_err(|_| anyhow::anyhow!("the mock cluster is stopped"))?;
        rx.recv()?
            .map_err(|e| anyhow::anyhow!("injecting a fault into the mock cluster: {e}"))
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
