//! doctor's S3 checks: the bucket takes what the sink and the audit do to it.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use super::{check, fail, ok, warn, Check, Status, PROBE};
use crate::config::Scenario;
use crate::io::connect::{self, CONNECT_TIMEOUT};

/// An S3 request's failure, classified: refused (AccessDenied and its kin, or a bare 403),
/// unanswered, or otherwise wrong.
fn s3_error<E>(what: &str, e: &SdkError<E, HttpResponse>, needs: &str) -> Check
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let detail = DisplayErrorContext(e);
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => check(
            Status::Unreachable,
            format!("s3: {what}: S3 did not answer: {detail}"),
        ),
        _ => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            match (e.code(), status) {
                (
                    Some(
                        code @ ("AccessDenied"
                        | "AllAccessDisabled"
                        | "InvalidAccessKeyId"
                        | "SignatureDoesNotMatch"
                        | "AccountProblem"),
                    ),
                    _,
                ) => check(
                    Status::Denied(code.to_string()),
                    format!("s3: {what} was refused; {needs}"),
                ),
                (_, Some(403)) => check(
                    Status::Denied("403 Forbidden".into()),
                    format!("s3: {what} was refused; {needs}"),
                ),
                _ => fail(format!("s3: {what} failed: {detail}; {needs}")),
            }
        }
    }
}

/// HeadObject and GetObject of the probe: the audit reads every landed object back.
async fn read_back_checks(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    prefix: &str,
) -> Vec<Check> {
    let needs = |op: &str| {
        format!("the audit reads every landed object back: it needs s3:{op} on {bucket}/{prefix}*")
    };
    let head = match client.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => ok("s3: HeadObject of the probe"),
        Err(e) => s3_error("HeadObject of the probe", &e, &needs("GetObject")),
    };
    let get = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => match o.body.collect().await.map(|b| b.into_bytes()) {
            Ok(b) if b.as_ref() == PROBE => {
                ok("s3: GetObject of the probe, the same bytes (the audit reads back through it)")
            }
            Ok(_) => fail(format!(
                "s3: GetObject of the probe returned other bytes than were put; {}",
                needs("GetObject")
            )),
            Err(e) => fail(format!("s3: reading the probe's body failed: {e}")),
        },
        Err(e) => s3_error("GetObject of the probe", &e, &needs("GetObject")),
    };
    vec![head, get]
}

pub(super) async fn s3_checks(s: &Scenario) -> Vec<Check> {
    let client = connect::s3_client(&s.s3, None).await;
    let bucket = s.s3.bucket_name();
    let at =
        s.s3.endpoint
            .clone()
            .unwrap_or_else(|| "AWS S3".to_string());
    let mut out = Vec::new();
    let head =
        tokio::time::timeout(CONNECT_TIMEOUT, client.head_bucket().bucket(bucket).send()).await;
    match head {
        Err(_) => {
            out.push(check(
                Status::Unreachable,
                format!(
                    "s3: {at} did not answer within {}s (check s3.endpoint and the network)",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ));
            return out;
        }
        Ok(Ok(_)) => out.push(ok(format!("s3: bucket {bucket} at {at} is reachable"))),
        Ok(Err(e)) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            let msg = match status {
                Some(404) if s.s3.create_bucket => {
                    out.push(ok(format!(
                        "s3: bucket {bucket} does not exist at {at}; s3.create_bucket = true, so tickbench run will create it"
                    )));
                    return out;
                }
                Some(404) => format!(
                    "s3: bucket {bucket} does not exist at {at}. Create it (aws s3 mb s3://{bucket}) or set s3.create_bucket = true"
                ),
                Some(403) => {
                    out.push(check(Status::Denied("403 Forbidden".into()), format!(
                        "s3: HeadBucket {bucket} at {at} was refused: the credentials the AWS config chain found lack s3:ListBucket on it, or the bucket belongs to another account"
                    )));
                    return out;
                }
                Some(301) => format!(
                    "s3: bucket {bucket} is in another region than {:?}; set s3.region",
                    s.s3.region.as_deref().unwrap_or("the configured one")
                ),
                _ => {
                    out.push(s3_error(
                        &format!("HeadBucket {bucket} at {at}"),
                        &e,
                        "check s3.endpoint, s3.region and the credentials",
                    ));
                    return out;
                }
            };
            out.push(fail(msg));
            return out;
        }
    }
    let probe_key = format!(
        "{}_tickbench_doctor/{}.txt",
        if s.s3.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", s.s3.prefix)
        },
        crate::metrics::now_ns()
    );
    match client
        .put_object()
        .bucket(bucket)
        .key(&probe_key)
        .body(ByteStream::from_static(PROBE))
        .send()
        .await
    {
        Ok(_) => {
            out.push(ok(format!("s3: PutObject s3://{bucket}/{probe_key}")));
            out.extend(read_back_checks(&client, bucket, &probe_key, &s.s3.prefix).await);
            match client.delete_object().bucket(bucket).key(&probe_key).send().await {
                Ok(_) => out.push(ok("s3: DeleteObject of the probe")),
                Err(e) => out.push(warn(format!(
                    "s3: could not delete the probe object s3://{bucket}/{probe_key} ({}); `tickbench compact` needs s3:DeleteObject, runs do not",
                    e.code().unwrap_or("error")
                ))),
            }
        }
        Err(e) => out.push(s3_error(
            &format!("PutObject to s3://{bucket}/{probe_key}"),
            &e,
            &format!("the sink needs s3:PutObject on {bucket}/{}*", s.s3.prefix),
        )),
    }
    out.push(multipart_check(&client, bucket, &probe_key).await);
    match client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&s.s3.prefix)
        .max_keys(1)
        .send()
        .await
    {
        Ok(_) => out.push(ok(format!(
            "s3: ListObjectsV2 under {:?} (the audit reads back through it)",
            s.s3.prefix
        ))),
        Err(e) => out.push(s3_error(
            &format!("ListObjectsV2 on {bucket}"),
            &e,
            "the audit needs s3:ListBucket",
        )),
    }
    out
}

async fn multipart_check(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Check {
    let created = match client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    {
        Ok(c) => c,
        Err(e) => return s3_error(
            "CreateMultipartUpload",
            &e,
            "batches larger than a part need multipart uploads (s3:PutObject covers them on AWS)",
        ),
    };
    let id = created.upload_id().unwrap_or_default();
    let part = client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"probe"))
        .send()
        .await;
    let abort = client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .send()
        .await;
    match (part, abort) {
        (Ok(_), Ok(_)) => ok("s3: CreateMultipartUpload, UploadPart, AbortMultipartUpload"),
        (Err(e), _) => s3_error("UploadPart", &e, "multipart uploads need s3:PutObject"),
        (Ok(_), Err(e)) => s3_error(
            "AbortMultipartUpload",
            &e,
            "without it a failed upload leaves billed parts behind (s3:AbortMultipartUpload)",
        ),
    }
}
