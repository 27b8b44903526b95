//! Argument groups several commands share, declared once: the guest kind as users type it
//! (`vm`/`ct`).

use clap::ValueEnum;
use pve_client::GuestKind;

/// Which kind of guest, as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// A QEMU VM.
    Vm,
    /// An LXC container.
    #[value(alias = "container")]
    Ct,
}

impl From<KindArg> for GuestKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Vm => GuestKind::Qemu,
            KindArg::Ct => GuestKind::Lxc,
        }
    }
}
