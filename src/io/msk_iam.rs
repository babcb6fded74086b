//! Amazon MSK IAM access control for librdkafka. MSK's IAM listener takes SASL/OAUTHBEARER with
//! a token that is a SigV4-presigned `GET https://kafka.<region>.amazonaws.com/?Action=
//! kafka-cluster:Connect`, base64url without padding, valid 15 minutes: what AWS's signer
//! libraries (aws-msk-iam-sasl-signer-python, -go, -js) build. The credentials come from the AWS
//! config chain (environment, profile, SSO, web identity, ECS task or instance role) and are
//! kept fresh by a task; librdkafka asks for a token when a client starts and again before the
//! current one expires, and gets one signed on the spot.
//!
//! Which clients sign is carried in the client properties themselves: `sasl.oauthbearer.config`
//! names the credentials (`tickbench-msk-iam region=… profile=…`), so every client built from a
//! scenario's properties signs with the same credentials, whatever its context type.

use std::collections::HashMap;
use std::error::Error;
use std::ffi::CString;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context as _};
use aws_config::BehaviorVersion;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rdkafka::client::{ClientContext, NativeClient, OAuthToken};
use rdkafka::config::ClientConfig;

use crate::config::{Kafka, KafkaAuth};

/// How long a token is valid (the reference signers' `X-Amz-Expires`).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);
/// Credentials this close to their expiry are fetched again.
const REFRESH_BEFORE: Duration = Duration::from_secs(600);
/// How often the refresh task looks at the credentials' expiry.
const REFRESH_EVERY: Duration = Duration::from_secs(60);
const USER_AGENT: &str = concat!("tickbench/", env!("CARGO_PKG_VERSION"));
/// `sasl.oauthbearer.config` of a client whose tokens tickbench signs starts with this.
const CONFIG_TAG: &str = "tickbench-msk-iam";
/// Query values as SigV4 encodes them: everything but A-Z a-z 0-9 - _ . ~
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A signed token and the moment it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// base64url (no padding) of the presigned URL: what goes on the wire.
    pub value: String,
    /// Milliseconds since the epoch.
    pub expires_at_ms: i64,
}

/// The presigned URL a token encodes.
pub fn presigned_url(
    creds: &Credentials,
    region: &str,
    at: SystemTime,
) -> Result<String, Box<dyn Error + Send + Sync>> {
    let identity = creds.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("kafka-cluster")
        .time(at)
        .settings(settings)
        .build()?
        .into();
    let mut url = format!("https://kafka.{region}.amazonaws.com/?Action=kafka-cluster%3AConnect");
    let request = SignableRequest::new(
        "GET",
        &url,
        std::iter::empty(),
        // The reference signers hash the empty body (botocore: payload signing over https).
        SignableBody::Bytes(&[]),
    )?;
    let (instructions, _) = sign(request, &params)?.into_parts();
    // The signature last, as the reference signers write it (MSK does not mind the order).
    let mut params = instructions.params().to_vec();
    params.sort_by_key(|(name, _)| *name == "X-Amz-Signature");
    for (name, value) in &params {
        url.push_str(&format!(
            "&{name}={}",
            utf8_percent_encode(value, QUERY_VALUE)
        ));
    }
    // Not signed, as in the reference signers: it tells MSK's logs which client connected.
    url.push_str(&format!(
        "&User-Agent={}",
        utf8_percent_encode(USER_AGENT, QUERY_VALUE)
    ));
    Ok(url)
}

/// The OAUTHBEARER token for `region`, signed with `creds` at `at`.
pub fn token(
    creds: &Credentials,
    region: &str,
    at: SystemTime,
) -> Result<Token, Box<dyn Error + Send + Sync>> {
    let url = presigned_url(creds, region, at)?;
    let signed_s = at.duration_since(UNIX_EPOCH)?.as_secs();
    Ok(Token {
        value: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url),
        expires_at_ms: ((signed_s + TOKEN_LIFETIME.as_secs()) * 1000) as i64,
    })
}

/// The credentials one `(region, profile)` signs with, kept fresh by a task.
struct Signer {
    region: String,
    creds: Mutex<Credentials>,
    refresher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn signers() -> &'static Mutex<HashMap<String, Arc<Signer>>> {
    static SIGNERS: OnceLock<Mutex<HashMap<String, Arc<Signer>>>> = OnceLock::new();
    SIGNERS.get_or_init(Default::default)
}

/// The `sasl.oauthbearer.config` of a scenario with `kafka.auth = "msk-iam"`.
pub fn config_string(k: &Kafka) -> String {
    format!(
        "{CONFIG_TAG} region={} profile={}",
        k.region.as_deref().unwrap_or("(chain)"),
        k.profile.as_deref().unwrap_or("(chain)")
    )
}

/// Loads the credentials of a scenario with `kafka.auth = "msk-iam"` (nothing otherwise), once
/// per process, and starts their refresh; clients built afterwards can sign.
pub async fn prepare(k: &Kafka) -> anyhow::Result<()> {
    if k.auth != Some(KafkaAuth::MskIam) {
        return Ok(());
    }
    let key = config_string(k);
    let known = signers().lock().expect("signers").get(&key).cloned();
    if let Some(s) = known {
        // A refresh task dies with the runtime that ran it (one per test); start another.
        let dead = s
            .refresher
            .lock()
            .expect("refresher")
            .as_ref()
            .is_none_or(|h| h.is_finished());
        if dead {
            let task = tokio::spawn(refresh(s.clone(), provider(k).await?.0));
            *s.refresher.lock().expect("refresher") = Some(task);
        }
        return Ok(());
    }
    let (provider, region) = provider(k).await?;
    let creds = provider.provide_credentials().await.map_err(|e| {
        anyhow!(
            "kafka.auth = \"msk-iam\": no AWS credentials from the AWS config chain{}: {}",
            k.profile
                .as_deref()
                .map(|p| format!(" (profile {p})"))
                .unwrap_or_default(),
            aws_sdk_s3::error::DisplayErrorContext(e)
        )
    })?;
    let signer = Arc::new(Signer {
        region,
        creds: Mutex::new(creds),
        refresher: Mutex::new(None),
    });
    *signer.refresher.lock().expect("refresher") =
        Some(tokio::spawn(refresh(signer.clone(), provider)));
    signers().lock().expect("signers").insert(key, signer);
    Ok(())
}

async fn provider(k: &Kafka) -> anyhow::Result<(SharedCredentialsProvider, String)> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = &k.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &k.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    let sdk = loader.load().await;
    let region = sdk.region().map(|r| r.to_string()).context(
        "kafka.auth = \"msk-iam\": the AWS config chain names no region; set kafka.region to the MSK cluster's region (or AWS_REGION)",
    )?;
    let provider = sdk
        .credentials_provider()
        .context("kafka.auth = \"msk-iam\": the AWS config chain has no credentials provider")?;
    Ok((provider, region))
}

async fn refresh(signer: Arc<Signer>, provider: SharedCredentialsProvider) {
    loop {
        tokio::time::sleep(REFRESH_EVERY).await;
        let expiry = signer.creds.lock().expect("credentials").expiry();
        let due = expiry.is_some_and(|e| {
            e.duration_since(SystemTime::now()).unwrap_or_default() < REFRESH_BEFORE
        });
        if !due {
            continue;
        }
        match provider.provide_credentials().await {
            Ok(c) => *signer.creds.lock().expect("credentials") = c,
            Err(e) => tracing::warn!(
                "MSK IAM: refreshing the AWS credentials failed (the current ones are used until they expire): {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            ),
        }
    }
}

/// A token for the client whose `sasl.oauthbearer.config` is `config`.
pub fn oauth_token(config: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
    let config = config.filter(|c| c.starts_with(CONFIG_TAG)).ok_or(
        "SASL/OAUTHBEARER without a token source: set kafka.auth = \"msk-iam\" for MSK, or librdkafka's sasl.oauthbearer.method",
    )?;
    let signer = signers()
        .lock()
        .expect("signers")
        .get(config)
        .cloned()
        .ok_or("MSK IAM credentials were not loaded before the Kafka client started")?;
    let creds = signer.creds.lock().expect("credentials").clone();
    let t = token(&creds, &signer.region, SystemTime::now()).map_err(|e| e.to_string())?;
    Ok(OAuthToken {
        token: t.value,
        principal_name: "tickbench".into(),
        lifetime_ms: t.expires_at_ms,
    })
}

/// Hands a newly built client its first token. librdkafka asks for one on its main queue, which
/// short-lived clients (metadata, offsets, admin) never poll: they would wait out their timeout.
pub fn prime(client: &NativeClient, cfg: &ClientConfig) -> anyhow::Result<()> {
    let Some(config) = cfg
        .get("sasl.oauthbearer.config")
        .filter(|c| c.starts_with(CONFIG_TAG))
    else {
        return Ok(());
    };
    let t = oauth_token(Some(config)).map_err(|e| anyhow!("MSK IAM: {e}"))?;
    let token = CString::new(t.token)?;
    let principal = CString::new(t.principal_name)?;
    let mut err = vec![0u8; 512];
    // SAFETY: the pointers are valid for the call; librdkafka copies what it keeps.
    let code = unsafe {
        rdkafka::bindings::rd_kafka_oauthbearer_set_token(
            client.ptr(),
            token.as_ptr(),
            t.lifetime_ms,
            principal.as_ptr(),
            std::ptr::null_mut(),
            0,
            err.as_mut_ptr().cast(),
            err.len(),
        )
    };
    if code != rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
        let msg = String::from_utf8_lossy(&err);
        anyhow::bail!(
            "MSK IAM: librdkafka refused the token: {}",
            msg.trim_end_matches('\0')
        );
    }
    Ok(())
}

/// The context of tickbench's short-lived Kafka clients: it signs MSK IAM tokens when asked.
#[derive(Debug, Default, Clone, Copy)]
pub struct AuthContext;

impl ClientContext for AuthContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(&self, config: Option<&str>) -> Result<OAuthToken, Box<dyn Error>> {
        oauth_token(config)
    }
}

impl rdkafka::consumer::ConsumerContext for AuthContext {}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(session: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session.map(str::to_string),
            None,
            "test",
        )
    }

    fn decode(t: &Token) -> String {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&t.value)
            .unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_token_is_a_presigned_connect_url_valid_fifteen_minutes() {
        let at = UNIX_EPOCH + Duration::from_secs(1_796_126_400);
        let t = token(&creds(Some("tok/en+=")), "eu-west-1", at).unwrap();
        assert!(!t.value.contains('='), "no padding: {}", t.value);
        assert_eq!(t.expires_at_ms, (1_796_126_400 + 900) * 1000);
        let url = decode(&t);
        assert!(
            url.starts_with("https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261201%2Feu-west-1%2Fkafka-cluster%2Faws4_request&X-Amz-Date=20261201T120000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&"),
            "{url}"
        );
        assert!(
            url.contains("&X-Amz-Security-Token=tok%2Fen%2B%3D&"),
            "{url}"
        );
        assert!(
            url.ends_with(&format!(
                "&User-Agent=tickbench%2F{}",
                env!("CARGO_PKG_VERSION")
            )),
            "{url}"
        );
        assert!(
            !url.contains("wJalr"),
            "the secret key is never in the token"
        );
    }

    #[test]
    fn a_client_without_the_config_gets_no_token_and_is_told_why() {
        let e = oauth_token(None).err().unwrap().to_string();
        assert!(e.contains("kafka.auth = \"msk-iam\""), "{e}");
        let e = oauth_token(Some("tickbench-msk-iam region=nowhere profile=(chain)"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("were not loaded"), "{e}");
    }
}
