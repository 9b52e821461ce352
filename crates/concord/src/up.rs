//! `concord up`: a complete local Active-Active database on loopback.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct UpArgs {
    /// Number of participating clusters (instances).
    #[arg(long, default_value_t = 3)]
    pub instances: u16,
    /// Endpoint of instance i is base-port + i - 1.
    #[arg(long, default_value_t = 12000)]
    pub base_port: u16,
    #[arg(long, default_value = "./concord-data")]
    pub dir: PathBuf,
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("concord up: not implemented yet")
}
