//! The MSK IAM token tickbench signs, against AWS's reference signer
//! (aws-msk-iam-sasl-signer-python) run with the same credentials and the same clock.

use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use base64::Engine as _;
use tickbench::io::msk_iam;

use crate::common;

/// Signs with the reference library at a fixed time (botocore reads its clock from
/// `botocore.auth.get_current_datetime`) and prints the decoded URL and the expiry.
const REFERENCE: &str = r#"
import base64, datetime, sys
import botocore.auth
from botocore.credentials import Credentials
from aws_msk_iam_sasl_signer import MSKAuthTokenProvider as p
access, secret, session, region, stamp = sys.argv[1:6]
at = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ")
botocore.auth.get_current_datetime = lambda remove_tzinfo=True: at
construct = getattr(p, "__construct_auth_token")
token, expiry_ms = construct(region, Credentials(access, secret, session or None))
print(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
print(expiry_ms)
"#;

fn decoded(token: &str) -> String {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .expect("base64url without padding");
    String::from_utf8(bytes).unwrap()
}

/// The URL without its last parameter, the unsigned User-Agent (each library names itself).
fn signed_part(url: &str) -> &str {
    let (signed, ua) = url.rsplit_once("&User-Agent=").expect("a User-Agent");
    assert!(!ua.is_empty());
    signed
}

#[test]
#[ignore = "needs aws-msk-iam-sasl-signer-python: scripts/install-deps.sh --tests (a venv in .tools/)"]
fn the_msk_iam_token_is_the_one_aws_reference_signer_makes() {
    let python = common::python();
    let cases = [
        (
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "",
            "us-east-1",
        ),
        // A role's session credentials: the session token is part of what is signed.
        (
            "ASIAEXAMPLE",
            "secret/with+chars=",
            "FwoGZXIvYXdzE+session/token==",
            "eu-west-1",
        ),
    ];
    // 2026-12-01T12:00:00Z
    let at = UNIX_EPOCH + Duration::from_secs(1_796_126_400);
    for (access, secret, session, region) in cases {
        let out = Command::new(&python)
            .args([
                "-c",
                REFERENCE,
                access,
                secret,
                session,
                region,
                "20261201T120000Z",
            ])
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
        assert!(
            out.status.success(),
            "the reference signer failed ({}; scripts/install-deps.sh --tests): {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let mut lines = stdout.lines();
        let (theirs, their_expiry) = (lines.next().unwrap(), lines.next().unwrap());
        assert!(
            theirs.contains("User-Agent=aws-msk-iam-sasl-signer-python"),
            "{theirs}"
        );

        let creds = Credentials::new(
            access,
            secret,
            (!session.is_empty()).then(|| session.to_string()),
            None,
            "test",
        );
        let ours = msk_iam::token(&creds, region, at).unwrap();
        let url = decoded(&ours.value);
        assert_eq!(signed_part(&url), signed_part(theirs), "{region}");
        assert_eq!(ours.expires_at_ms.to_string(), their_expiry);
        assert!(url.contains("X-Amz-Signature="));
        assert_eq!(session.is_empty(), !url.contains("X-Amz-Security-Token="));
    }
}
