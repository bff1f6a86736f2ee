//! `verimath verify` (not yet implemented).

/// Flags of this command.
#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("this command is not implemented yet")
}
