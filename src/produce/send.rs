//! One message handed to librdkafka, without rdkafka-rs's per-message costs.
//!
//! `BaseProducer::send` builds a `CString` of the topic name for every message (an allocation and
//! a free) and names the topic to `rd_kafka_producev`, which looks it up under the client's lock
//! each time. librdkafka's own rdkafka_performance holds a topic handle and calls
//! `rd_kafka_produce`; so does this. Delivery reports are unchanged: the opaque given here is the
//! one rdkafka-rs hands back to [`ProducerContext::delivery`](rdkafka::producer::ProducerContext).

use std::ffi::{c_void, CString};
use std::marker::PhantomData;
use std::ptr::NonNull;

use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka_sys as rdsys;

/// A librdkafka topic handle of one producer; it cannot outlive the producer it borrows.
pub struct Topic<'p> {
    rkt: NonNull<rdsys::rd_kafka_topic_t>,
    _producer: PhantomData<&'p ()>,
}

impl<'p> Topic<'p> {
    /// The handle of `name` on `producer`, with the topic configuration the producer was created
    /// with (librdkafka copies the client's default topic configuration).
    pub fn new<C: ProducerContext>(
        producer: &'p BaseProducer<C>,
        name: &str,
    ) -> Result<Topic<'p>, RDKafkaErrorCode> {
        let name = CString::new(name).map_err(|_| RDKafkaErrorCode::InvalidTopic)?;
        // SAFETY: the client pointer is live for 'p; a null conf means "the client's defaults".
        let rkt = unsafe {
            rdsys::rd_kafka_topic_new(
                producer.client().native_ptr(),
                name.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        NonNull::new(rkt)
            .map(|rkt| Topic {
                rkt,
                _producer: PhantomData,
            })
            .ok_or_else(last_error)
    }

    /// Hands one message to librdkafka (copied; partitioned by its key with the producer's
    /// partitioner). `opaque` comes back with its delivery report.
    #[inline]
    pub fn send(&self, key: &[u8], payload: &[u8], opaque: usize) -> Result<(), RDKafkaErrorCode> {
        // SAFETY: RD_KAFKA_MSG_F_COPY: librdkafka copies payload and key before returning, so
        // the borrows need not outlive the call.
        let rc = unsafe {
            rdsys::rd_kafka_produce(
                self.rkt.as_ptr(),
                PARTITION_UA,
                rdsys::RD_KAFKA_MSG_F_COPY,
                payload.as_ptr() as *mut c_void,
                payload.len(),
                key.as_ptr() as *const c_void,
                key.len(),
                opaque as *mut c_void,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(last_error())
        }
    }
}

impl Drop for Topic<'_> {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_topic_new and destroyed once, before its producer.
        unsafe { rdsys::rd_kafka_topic_destroy(self.rkt.as_ptr()) }
    }
}

/// librdkafka's RD_KAFKA_PARTITION_UA (a macro, not in the bindings): let the partitioner choose.
const PARTITION_UA: i32 = -1;

fn last_error() -> RDKafkaErrorCode {
    // SAFETY: reads the calling thread's last librdkafka error.
    RDKafkaErrorCode::from(unsafe { rdsys::rd_kafka_last_error() })
}
