//! `tickbench up`: the embedded services, for other tools.

use super::exit;
use std::path::PathBuf;

use super::Signals;
use crate::commands::up;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder the S3 server keeps objects in.
    #[arg(long, default_value = "tickbench-up")]
    pub dir: PathBuf,
    /// Topic to create on the mock cluster.
    #[arg(long, default_value = "ticks")]
    pub topic: String,
    /// Partitions of that topic.
    #[arg(long, default_value_t = 12)]
    pub partitions: u32,
    /// Bucket to create on the S3 server.
    #[arg(long, default_value = "tickbench")]
    pub bucket: String,
    /// S3 port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    s3_port: u16,
}

pub async fn execute(
    args: Args,
    signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    let Args {
        dir,
        topic,
        partitions,
        bucket,
        s3_port,
    } = args;
    // Ctrl-C or SIGTERM stops the services cleanly.
    signals.listen(true)?;
    up::up(
        &up::UpOptions {
            dir,
            topic,
            partitions,
            bucket,
            s3_port,
        },
        |how| {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(how.as_bytes());
            let _ = out.flush();
        },
        &signals.stop,
    )
    .await?;
    writeln!(stdout, "stopped")?;
    Ok(exit::PASSED)
}
