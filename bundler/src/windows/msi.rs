//! `.msi` from generated WiX XML, compiled by `wixl` (see the module docs of [`super`] for why `wixl`).
//!
//! - `UpgradeCode`: stable, a UUIDv5 of the identifier; `ProductCode`: new per version and install scope; package code:
//!   a digest of every input (so a rebuild of the same inputs has the same one).
//! - `MajorUpgrade`: installing a newer version removes the older one (one entry in Programs and Features); a newer
//!   installed version blocks a downgrade with a message.
//! - Every file is its own component with a GUID derived from its install path, so components keep their identity
//!   across versions.
//! - Start menu shortcut (and optionally a desktop one), uninstall entry icon (`ARPPRODUCTICON`), home page, install
//!   location; Windows Installer computes the size shown in the uninstall list.
//! - Deep links and file associations under `Software\Classes` of `HKLM` (per machine) or `HKCU` (per user).

use std::fmt::Write as _;

use sha2::Digest;

use super::webview2::{INSTALL_ARGS, Provision, RUNTIME_GUID};
use super::{InstallScope, Prepared, run_tool, settings, xml};
use crate::config::App;
use crate::error::{Error, Result};

/// `PACKAGE_VERSION_x64_en-US.msi`, as Tauri names it.
pub fn file_name(app: &App) -> String {
    format!("{}_{}_x64_en-US.msi", app.package_name, app.version)
}

fn id(prefix: &str, key: &str) -> String {
    let digest = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    format!("{prefix}_{}", &digest[..24])
}

/// A directory of the install tree, with its files and subdirectories.
#[derive(Default)]
struct Dir {
    files: Vec<(String, String)>,
    dirs: std::collections::BTreeMap<String, Dir>,
}

/// The WiX source for the app.
pub fn wxs(app: &App, p: &Prepared) -> String {
    let w = settings(app);
    let per_user = w.install_scope == InstallScope::PerUser;
    let root = if per_user { "HKCU" } else { "HKLM" };
    let scope = if per_user { "per-user" } else { "per-machine" };
    let manufacturer = app.authors.first().map(|a| a.split('<').next().unwrap_or(a).trim().to_owned());
    let manufacturer = manufacturer.filter(|m| !m.is_empty()).unwrap_or_else(|| app.product_name.clone());
    let guid = |what: &str| super::uuid_v5(&format!("component:{}:{scope}:{what}", p.upgrade_code));
    let exe = format!("[INSTALLDIR]{}", p.exe_name);
    let mut s = String::new();
    let _ = writeln!(s, "<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    let _ = writeln!(s, "<Wix xmlns=\"http://schemas.microsoft.com/wix/2006/wi\">");
    let _ = writeln!(
        s,
        "  <Product Id=\"{}\" Name=\"{}\" Language=\"1033\" Codepage=\"65001\" Version=\"{}\" Manufacturer=\"{}\" UpgradeCode=\"{}\">",
        p.product_code,
        xml(&app.product_name),
        p.msi_version,
        xml(&manufacturer),
        p.upgrade_code
    );
    let _ = writeln!(
        s,
        "    <Package Id=\"{}\" InstallerVersion=\"500\" Compressed=\"yes\" InstallScope=\"{}\" Description=\"{}\" Comments=\"{} {}\" Manufacturer=\"{}\"/>",
        p.package_code,
        if per_user { "perUser" } else { "perMachine" },
        xml(&app.description),
        xml(&app.product_name),
        app.version,
        xml(&manufacturer)
    );
    let _ = writeln!(
        s,
        "    <MajorUpgrade DowngradeErrorMessage=\"A newer version of {} is already installed.\"/>",
        xml(&app.product_name)
    );
    s += "    <Media Id=\"1\" Cabinet=\"app.cab\" EmbedCab=\"yes\"/>\n";
    s += "    <Icon Id=\"AppIcon.ico\" SourceFile=\"app.ico\"/>\n";
    s += "    <Property Id=\"ARPPRODUCTICON\" Value=\"AppIcon.ico\"/>\n";
    s += "    <Property Id=\"ARPNOMODIFY\" Value=\"1\"/>\n";
    s += "    <Property Id=\"ARPNOREPAIR\" Value=\"1\"/>\n";
    if let Some(home) = &app.homepage {
        let _ = writeln!(s, "    <Property Id=\"ARPURLINFOABOUT\" Value=\"{}\"/>", xml(home));
    }
    // The uninstall entry's InstallLocation.
    s += "    <CustomAction Id=\"SetInstallLocation\" Property=\"ARPINSTALLLOCATION\" Value=\"[INSTALLDIR]\"/>\n";

    // Explicit sequence numbers: wixl's ordering of `Before`/`After` is not stable (it has put a deferred action
    // before InstallInitialize). CostFinalize is 1000, InstallFiles 4000, InstallFinalize 6600.
    let mut sequence = vec![("SetInstallLocation", 1001, "NOT Installed".to_owned())];
    let webview_missing = "NOT Installed AND NOT REMOVE AND (NOT WVRTMACHINE OR WVRTMACHINE = \"0.0.0.0\") AND \
                           (NOT WVRTUSER OR WVRTUSER = \"0.0.0.0\")";
    if p.webview2 != Provision::Nothing {
        let _ = writeln!(
            s,
            "    <Property Id=\"WVRTMACHINE\"><RegistrySearch Id=\"WebView2Machine\" Root=\"HKLM\" Key=\"SOFTWARE\\Microsoft\\EdgeUpdate\\Clients\\{RUNTIME_GUID}\" Name=\"pv\" Type=\"raw\" Win64=\"no\"/></Property>"
        );
        let _ = writeln!(
            s,
            "    <Property Id=\"WVRTUSER\"><RegistrySearch Id=\"WebView2User\" Root=\"HKCU\" Key=\"Software\\Microsoft\\EdgeUpdate\\Clients\\{RUNTIME_GUID}\" Name=\"pv\" Type=\"raw\"/></Property>"
        );
    }
    let impersonate = if per_user { "yes" } else { "no" };
    match &p.webview2 {
        Provision::Nothing => {}
        Provision::Embedded { .. } => {
            let _ = writeln!(
                s,
                "    <CustomAction Id=\"InstallWebView2\" FileKey=\"WebView2Installer\" ExeCommand=\"{INSTALL_ARGS}\" Execute=\"deferred\" Impersonate=\"{impersonate}\" Return=\"check\"/>"
            );
            sequence.push(("InstallWebView2", 6590, webview_missing.to_owned()));
        }
        Provision::Download { url } => {
            s += "    <Property Id=\"POWERSHELLEXE\"><RegistrySearch Id=\"PowerShellExe\" Root=\"HKLM\" Key=\"SOFTWARE\\Microsoft\\PowerShell\\1\\ShellIds\\Microsoft.PowerShell\" Name=\"Path\" Type=\"raw\"/></Property>\n";
            // `[\[]` and `[\]]` are MSI's escapes for brackets in formatted text.
            let command = format!(
                "-NoProfile -NonInteractive -ExecutionPolicy Bypass -Command &quot;[\\[]Net.ServicePointManager[\\]]::SecurityProtocol = 'Tls12'; Invoke-WebRequest -UseBasicParsing -Uri '{}' -OutFile $env:TEMP\\MicrosoftEdgeWebview2Setup.exe; Start-Process -FilePath $env:TEMP\\MicrosoftEdgeWebview2Setup.exe -ArgumentList '/silent','/install' -Wait&quot;",
                xml(url)
            );
            let _ = writeln!(
                s,
                "    <CustomAction Id=\"InstallWebView2\" Property=\"POWERSHELLEXE\" ExeCommand=\"{command}\" Execute=\"deferred\" Impersonate=\"{impersonate}\" Return=\"check\"/>"
            );
            sequence.push(("InstallWebView2", 6590, format!("{webview_missing} AND POWERSHELLEXE")));
        }
    }
    s += "    <InstallExecuteSequence>\n";
    for (action, at, condition) in &sequence {
        let _ = writeln!(s, "      <Custom Action=\"{action}\" Sequence=\"{at}\">{}</Custom>", xml(condition));
    }
    s += "    </InstallExecuteSequence>\n";

    // The install tree.
    let mut tree = Dir::default();
    for f in &p.files {
        let mut dir = &mut tree;
        let mut parts: Vec<&str> = f.path.split('/').collect();
        let name = parts.pop().unwrap_or_default();
        for part in parts {
            dir = dir.dirs.entry(part.to_owned()).or_default();
        }
        dir.files.push((name.to_owned(), f.path.clone()));
    }
    let mut components = Vec::new();
    s += "    <Directory Id=\"TARGETDIR\" Name=\"SourceDir\">\n";
    let indent = if per_user {
        s += "      <Directory Id=\"LocalAppDataFolder\">\n        <Directory Id=\"ProgramsFolder\" Name=\"Programs\">\n";
        "          "
    } else {
        s += "      <Directory Id=\"ProgramFiles64Folder\">\n";
        "        "
    };
    let _ = writeln!(s, "{indent}<Directory Id=\"INSTALLDIR\" Name=\"{}\">", xml(&app.product_name));
    write_dir(&mut s, &tree, "", &format!("{indent}  "), p, &guid, &mut components);
    if let Provision::Embedded { name, .. } = &p.webview2 {
        let _ = writeln!(
            s,
            "{indent}  <Component Id=\"WebView2Installer\" Guid=\"{}\" Win64=\"yes\"><File Id=\"WebView2Installer\" Name=\"{name}\" Source=\"{name}\" KeyPath=\"yes\"/></Component>",
            guid("webview2-installer")
        );
        components.push("WebView2Installer".to_owned());
    }
    // Registry: the install directory (read by updaters and the NSIS installer), deep links, file associations.
    let key = format!("Software\\{}", app.identifier);
    let _ = writeln!(s, "{indent}  <Component Id=\"Registration\" Guid=\"{}\" Win64=\"yes\">", guid("registration"));
    let _ = writeln!(
        s,
        "{indent}    <RegistryValue Root=\"{root}\" Key=\"{}\" Name=\"InstallDir\" Type=\"string\" Value=\"[INSTALLDIR]\" KeyPath=\"yes\"/>",
        xml(&key)
    );
    for (k, name, value) in registry_entries(app, &exe) {
        let name = name.map(|n| format!(" Name=\"{}\"", xml(&n))).unwrap_or_default();
        let _ = writeln!(
            s,
            "{indent}    <RegistryValue Root=\"{root}\" Key=\"{}\"{name} Type=\"string\" Value=\"{}\"/>",
            xml(&k),
            xml(&value)
        );
    }
    let _ = writeln!(s, "{indent}  </Component>");
    components.push("Registration".to_owned());
    let _ = writeln!(s, "{indent}</Directory>");
    if per_user {
        s += "        </Directory>\n";
    }
    s += "      </Directory>\n";
    let shortcut = |s: &mut String, dir: &str, id: &str, components: &mut Vec<String>| {
        let _ = writeln!(s, "      <Directory Id=\"{dir}\">");
        let _ = writeln!(s, "        <Component Id=\"{id}\" Guid=\"{}\">", guid(id));
        let _ = writeln!(
            s,
            "          <Shortcut Id=\"{id}Link\" Name=\"{}\" Description=\"{}\" Target=\"{}\" WorkingDirectory=\"INSTALLDIR\" Icon=\"AppIcon.ico\"/>",
            xml(&app.product_name),
            xml(&app.description),
            xml(&exe)
        );
        let _ = writeln!(
            s,
            "          <RegistryValue Root=\"{root}\" Key=\"{}\" Name=\"{id}\" Type=\"integer\" Value=\"1\" KeyPath=\"yes\"/>",
            xml(&key)
        );
        let _ = writeln!(s, "        </Component>\n      </Directory>");
        components.push(id.to_owned());
    };
    shortcut(&mut s, "ProgramMenuFolder", "StartMenuShortcut", &mut components);
    if w.desktop_shortcut {
        shortcut(&mut s, "DesktopFolder", "DesktopShortcut", &mut components);
    }
    s += "    </Directory>\n";
    let _ = writeln!(s, "    <Feature Id=\"Main\" Title=\"{}\" Level=\"1\">", xml(&app.product_name));
    for c in components {
        let _ = writeln!(s, "      <ComponentRef Id=\"{c}\"/>");
    }
    s += "    </Feature>\n  </Product>\n</Wix>\n";
    s
}

fn write_dir(
    s: &mut String,
    dir: &Dir,
    at: &str,
    indent: &str,
    p: &Prepared,
    guid: &dyn Fn(&str) -> String,
    components: &mut Vec<String>,
) {
    for (name, path) in &dir.files {
        let component = id("c", path);
        let file = if *path == p.exe_name { "MainExecutable".to_owned() } else { id("f", path) };
        let source = p.files.iter().find(|f| &f.path == path).map(|f| f.source.clone()).unwrap_or_default();
        let source = source.strip_prefix(&p.work).map(|s| s.to_owned()).unwrap_or(source);
        let _ = writeln!(
            s,
            "{indent}<Component Id=\"{component}\" Guid=\"{}\" Win64=\"yes\"><File Id=\"{file}\" Name=\"{}\" Source=\"{}\" KeyPath=\"yes\"/></Component>",
            guid(&format!("file:{path}")),
            xml(name),
            xml(&source.to_string_lossy())
        );
        components.push(component);
    }
    for (name, sub) in &dir.dirs {
        let path = format!("{at}{name}/");
        let _ = writeln!(s, "{indent}<Directory Id=\"{}\" Name=\"{}\">", id("d", &path), xml(name));
        write_dir(s, sub, &path, &format!("{indent}  "), p, guid, components);
        let _ = writeln!(s, "{indent}</Directory>");
    }
}

/// `Software\Classes` entries for deep links and file associations: (key, value name or default, value). `exe` is
/// the executable's path in the installer's syntax.
pub fn registry_entries(app: &App, exe: &str) -> Vec<(String, Option<String>, String)> {
    let mut out = Vec::new();
    let open = format!("\"{exe}\" \"%1\"");
    for scheme in &app.config.desktop.deep_link_schemes {
        let key = format!("Software\\Classes\\{scheme}");
        out.push((key.clone(), None, format!("URL:{} protocol", app.product_name)));
        out.push((key.clone(), Some("URL Protocol".into()), String::new()));
        out.push((format!("{key}\\DefaultIcon"), None, format!("\"{exe}\",0")));
        out.push((format!("{key}\\shell\\open\\command"), None, open.clone()));
    }
    for assoc in &settings(app).file_associations {
        for ext in &assoc.extensions {
            let prog_id = format!("{}.{ext}", app.identifier);
            let description = assoc.description.clone().unwrap_or_else(|| format!("{} file", app.product_name));
            out.push((format!("Software\\Classes\\.{ext}"), None, prog_id.clone()));
            out.push((format!("Software\\Classes\\{prog_id}"), None, description));
            out.push((format!("Software\\Classes\\{prog_id}\\DefaultIcon"), None, format!("\"{exe}\",0")));
            out.push((format!("Software\\Classes\\{prog_id}\\shell\\open\\command"), None, open.clone()));
        }
    }
    out
}

/// Builds the `.msi`: writes the WiX source, runs `wixl`, signs the result when configured.
pub fn build(app: &App, p: &Prepared, epoch: u64) -> Result<Vec<u8>> {
    if let Provision::Embedded { source, name } = &p.webview2 {
        let target = p.work.join(name);
        if *source != target {
            std::fs::copy(source, &target).map_err(Error::io("copy", source))?;
        }
    }
    let source = p.work.join("app.wxs");
    std::fs::write(&source, wxs(app, p)).map_err(Error::io("write", &source))?;
    let out = p.work.join("app.msi");
    run_tool(
        "MSI",
        std::process::Command::new("wixl")
            .args(["--arch", "x64", "--output"])
            .arg(&out)
            .arg(&source)
            .current_dir(&p.work),
        "wixl",
    )?;
    fix_summary(&out, p, epoch)?;
    if let Some(signer) = &p.signer {
        signer.sign(&out, app, epoch, &p.work)?;
    }
    std::fs::read(&out).map_err(Error::io("read", &out))
}

/// `wixl` writes a random package code and the current time into the summary information; replace them with the
/// package code derived from the inputs and `SOURCE_DATE_EPOCH`, so the same inputs give the same MSI.
fn fix_summary(path: &std::path::Path, p: &Prepared, epoch: u64) -> Result<()> {
    let err = |e: std::io::Error| Error::Package {
        format: "MSI",
        message: format!("could not update the summary information: {e}"),
    };
    let file = std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(Error::io("open", path))?;
    let mut package = ::msi::Package::open(file).map_err(err)?;
    let code = uuid::Uuid::parse_str(p.package_code.trim_matches(['{', '}']))
        .map_err(|e| Error::Package { format: "MSI", message: format!("bad package code {}: {e}", p.package_code) })?;
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    let summary = package.summary_info_mut();
    summary.set_uuid(code);
    summary.set_creation_time(time);
    summary.set_last_save_time(time);
    summary.set_creating_application(concat!("millennium-bundler ", env!("CARGO_PKG_VERSION")));
    package.flush().map_err(err)?;
    Ok(())
}
