//! Platforms whose installers are not written yet: every install is [`Error::Unsupported`].

use std::path::Path;

use crate::download::DownloadedUpdate;
use crate::error::{Error, Result};
use crate::install::{InstallKind, PackageTool, Verified};
use crate::updater::Inner;

pub(crate) fn replace_executable(_inner: &Inner, _target: &Path, _update: &DownloadedUpdate) -> Result<()> {
    Err(Error::Unsupported { what: "replacing the executable".into() })
}

pub(crate) fn install_package(tool: &PackageTool<'_>, _package: &Path, _verified: &Verified) -> Result<()> {
    Err(Error::Unsupported { what: format!("`{}` packages", tool.program) })
}

pub(crate) fn relaunch(_kind: &InstallKind) -> Result<std::convert::Infallible> {
    Err(Error::Unsupported { what: "relaunching".into() })
}

pub(crate) fn run_installer(command: &crate::install::InstallerCommand) -> Result<()> {
    Err(Error::Unsupported { what: format!("running the Windows installer `{}`", command.program.to_string_lossy()) })
}
