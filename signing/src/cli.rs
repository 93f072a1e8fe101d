//! Command definitions and their implementations: [`Cli`](crate::cli::Cli) is the `millennium-sign` binary's command
//! line, [`Command`](crate::cli::Command) its subcommands (which `millennium sign` embeds),
//! [`finish`](crate::cli::finish) maps an outcome to the documented exit code.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use millennium_sign::fs::{Overwrite, write_atomic};
use millennium_sign::{
    Format, KdfParams, PublicKey, RotationChain, RotationStatement, SecretKey, Signature, TrustedComment, env,
};
use serde_json::json;
use zeroize::Zeroizing;

/// Password of the new key made by `rotate` (the old key's password comes from the usual variables).
const NEW_KEY_PASSWORD: &str = "MILLENNIUM_SIGNING_NEW_PRIVATE_KEY_PASSWORD";
/// Files at least this large get a progress bar when stderr is a terminal.
const PROGRESS_THRESHOLD: u64 = 64 * 1024 * 1024;

/// Sign and verify release artifacts with minisign-compatible Ed25519 keys.
///
/// Keys and signatures are read in both minisign's text form and Tauri's base64 form, and written in either
/// (`--format`; default `minisign`). Exit codes: 0 success, 1 a signature that does not verify, 2 unusable input.
#[derive(Debug, Parser)]
#[command(name = "millennium-sign", version, max_term_width = 110)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Print machine-readable JSON on stdout (errors too, as `{"error": {"code", "message", "hint"}}`).
    #[arg(long, global = true)]
    pub json: bool,

    /// Log what is being done (or set `MILLENNIUM_LOG=debug`).
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// The subcommands: `generate`, `sign`, `verify`, `rotate`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a key pair: a secret key (scrypt-encrypted with a password unless `--no-password`) and `<PATH>.pub`.
    ///
    /// The password is asked for in a terminal, or read from `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD` (then
    /// `TAURI_SIGNING_PRIVATE_KEY_PASSWORD`). The secret key file is created with mode 0600.
    Generate(GenerateArgs),
    /// Sign files, writing `FILE.sig` next to each.
    ///
    /// The secret key comes from `-k`, else `MILLENNIUM_SIGNING_PRIVATE_KEY` (the key text or a path), else Tauri's
    /// `TAURI_SIGNING_PRIVATE_KEY` / `TAURI_SIGNING_PRIVATE_KEY_PATH`. Its password from
    /// `MILLENNIUM_SIGNING_PRIVATE_KEY_PASSWORD` (else `TAURI_SIGNING_PRIVATE_KEY_PASSWORD`), else a terminal prompt;
    /// with neither, the empty password is tried, as Tauri does. The trusted comment is
    /// `timestamp:<unix>\tfile:<name>[\tversion:<version>]`; the timestamp honours `SOURCE_DATE_EPOCH`.
    Sign(SignArgs),
    /// Verify a file's signature; print the trusted comment.
    Verify(VerifyArgs),
    /// Replace a key: make a new key pair and a statement, signed by the old key, that endorses the new one.
    ///
    /// The statement is appended to a rotation chain file. Apps pinned to the first key follow the chain to the
    /// current key (`verify --chain`). The new key's password is asked for in a terminal or read from
    /// `MILLENNIUM_SIGNING_NEW_PRIVATE_KEY_PASSWORD`.
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
struct NewKeyArgs {
    /// Encrypt the secret key with a password (the default when one can be asked for or is set in the environment).
    #[arg(long, conflicts_with = "no_password")]
    password: bool,

    /// Store the secret key unencrypted (protect the file, or a CI secret, instead).
    #[arg(long)]
    no_password: bool,

    /// Overwrite existing key files.
    #[arg(long)]
    force: bool,

    /// How to write the key files.
    #[arg(long, value_enum, default_value_t)]
    format: Format,

    /// scrypt cost of the password encryption: `high` is what `minisign -G` uses (1 GiB, seconds); `low` is what
    /// `tauri signer generate` uses (32 MiB), for constrained CI runners.
    #[arg(long, value_enum, default_value_t = KdfCost::High)]
    kdf_cost: KdfCost,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KdfCost {
    High,
    Low,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Secret key path; the public key is written to `<PATH>.pub`. [default: ~/.millennium/millennium.key]
    #[arg(short = 'w', long = "write-keys", value_name = "PATH")]
    path: Option<PathBuf>,

    #[command(flatten)]
    new_key: NewKeyArgs,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Secret key file (minisign or Tauri form).
    #[arg(short = 'k', long = "private-key", value_name = "KEY")]
    key: Option<PathBuf>,

    /// Version of the release; recorded as `version:` in the trusted comment, which recent Tauri updaters check.
    #[arg(long = "version", value_name = "SEMVER")]
    release_version: Option<String>,

    /// Signature output path (only with a single FILE). [default: FILE.sig]
    #[arg(short = 'x', long = "output", value_name = "SIG")]
    output: Option<PathBuf>,

    /// How to write the signatures.
    #[arg(long, value_enum, default_value_t)]
    format: Format,

    /// Files to sign.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Public key: a `.pub` file, or the key itself (`RW…`, or Tauri's base64 `pubkey`).
    #[arg(short = 'p', long = "public-key", value_name = "PUBKEY")]
    public_key: String,

    /// Signature file. [default: FILE.sig, else FILE.minisig]
    #[arg(short = 'x', long = "signature", value_name = "SIG")]
    signature: Option<PathBuf>,

    /// Treat PUBKEY as the pinned first key and follow this rotation chain to the current key.
    #[arg(long, value_name = "CHAIN")]
    chain: Option<PathBuf>,

    /// Require the signed `version:` (when present) to equal this version.
    #[arg(long = "version", value_name = "SEMVER")]
    expect_version: Option<String>,

    /// With `--version`: also fail when the signature carries no `version:` field.
    #[arg(long, requires = "expect_version")]
    require_version: bool,

    /// The signed file.
    file: PathBuf,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The current (old) secret key; else from the environment as for `sign`.
    #[arg(short = 'k', long = "private-key", value_name = "KEY")]
    key: Option<PathBuf>,

    /// Where to write the new secret key; its public key goes to `<PATH>.pub`.
    #[arg(short = 'w', long = "write-keys", value_name = "PATH")]
    path: PathBuf,

    /// Rotation chain file to append the statement to (created if missing). [default: `rotation.chain` beside the new key]
    #[arg(long, value_name = "CHAIN")]
    chain: Option<PathBuf>,

    #[command(flatten)]
    new_key: NewKeyArgs,
}

/// Runs the command line.
///
/// # Errors
///
/// Whatever the command failed with; [`finish`] reports it.
pub fn run(cli: Cli) -> Result<()> {
    run_command(cli.command, cli.json)
}

/// Runs one subcommand; `json` prints machine-readable output.
///
/// # Errors
///
/// Whatever the command failed with; [`finish`] reports it.
pub fn run_command(command: Command, json: bool) -> Result<()> {
    let out = Output { json };
    match command {
        Command::Generate(args) => generate(args, &out),
        Command::Sign(args) => sign(args, &out),
        Command::Verify(args) => verify(args, &out),
        Command::Rotate(args) => rotate(args, &out),
    }
}

/// Reports the outcome of [`run`] and returns the exit code: `0` success, `1` a signature that does not verify, `2`
/// unusable input. An error goes to stderr as `error: …` with its causes and `hint:` lines, and with `json` also to
/// stdout as `{"error": {"code", "message", "hint"}}`. A broken pipe on stdout (`| head`) is success.
pub fn finish(outcome: Result<()>, json: bool) -> std::process::ExitCode {
    use std::process::ExitCode;
    let Err(err) = outcome else {
        return ExitCode::SUCCESS;
    };
    if err.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
        return ExitCode::SUCCESS;
    }
    let sign_error = err.downcast_ref::<millennium_sign::Error>();
    // The whole source chain: I/O causes are sources, not part of the messages.
    let report = millennium_report::Report::new(err.as_ref());
    if json {
        let code = sign_error.map_or("error", millennium_sign::Error::code);
        let _ = writeln!(std::io::stdout(), "{}", report.to_json(code));
    }
    let _ = writeln!(std::io::stderr(), "error: {report}");
    if sign_error.is_some_and(millennium_sign::Error::is_verification_failure) {
        ExitCode::from(1)
    } else {
        ExitCode::from(2)
    }
}

struct Output {
    json: bool,
}

impl Output {
    /// Human text goes to stderr so stdout stays data.
    fn status(&self, message: impl std::fmt::Display) {
        if !self.json {
            eprintln!("{message}");
        }
    }

    fn data(&self, human: impl std::fmt::Display, json: serde_json::Value) -> Result<()> {
        let mut stdout = std::io::stdout().lock();
        if self.json { writeln!(stdout, "{json}") } else { writeln!(stdout, "{human}") }
            .context("could not write output")
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

fn now() -> u64 {
    // Reproducible builds pin every embedded time to SOURCE_DATE_EPOCH.
    process_env("SOURCE_DATE_EPOCH")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

fn generate(args: GenerateArgs, out: &Output) -> Result<()> {
    let path = match args.path {
        Some(path) => path,
        None => {
            let home = process_env("HOME").filter(|h| !h.is_empty()).context(
                "cannot find the home directory for the default key path\nhint: pass `-w PATH` to choose where to write the key",
            )?;
            PathBuf::from(home).join(".millennium").join("millennium.key")
        }
    };
    let password = new_key_password(&args.new_key, env::PRIVATE_KEY_PASSWORD)?;
    let secret = SecretKey::generate()?;
    let (public_path, json) = write_key_pair(&secret, &path, password.as_deref().map(String::as_str), &args.new_key)?;
    out.status(format_args!(
        "wrote secret key `{}`{}\nwrote public key `{}` (key id {})\nkeep the secret key secret and backed up: losing it means apps can no longer be updated",
        path.display(),
        if password.is_some() { " (encrypted)" } else { " (NOT encrypted)" },
        public_path.display(),
        secret.key_id()
    ));
    out.data(format_args!("public key (Tauri `pubkey` form): {}", secret.public_key().to_text(Format::Tauri)), json)
}

/// Writes a fresh key pair, refusing to clobber unless `--force`; never leaves a secret key without its public key.
fn write_key_pair(
    secret: &SecretKey,
    path: &Path,
    password: Option<&str>,
    args: &NewKeyArgs,
) -> Result<(PathBuf, serde_json::Value)> {
    let public_path = PathBuf::from(format!("{}.pub", path.display()));
    let overwrite = if args.force { Overwrite::Allow } else { Overwrite::Refuse };
    if overwrite == Overwrite::Refuse {
        for p in [path, &public_path] {
            if p.exists() {
                return Err(millennium_sign::Error::AlreadyExists { path: p.to_owned() }.into());
            }
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let kdf = match args.kdf_cost {
        KdfCost::High => KdfParams::MINISIGN,
        KdfCost::Low => KdfParams::INTERACTIVE,
    };
    let sealed = secret.seal(password, kdf)?;
    write_atomic(path, sealed.to_text(args.format).as_bytes(), 0o600, overwrite)?;
    let public = secret.public_key();
    if let Err(e) = write_atomic(&public_path, public.to_text(args.format).as_bytes(), 0o644, overwrite) {
        if overwrite == Overwrite::Refuse {
            let _ = std::fs::remove_file(path);
        }
        return Err(e.into());
    }
    let json = json!({
        "secret_key_path": path,
        "public_key_path": public_path,
        "key_id": secret.key_id(),
        "public_key": public.to_base64(),
        "public_key_tauri": public.to_text(Format::Tauri),
        "encrypted": password.is_some(),
        "format": args.format,
    });
    Ok((public_path, json))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("could not create directory `{}`", dir.display()))
}

/// The password for a key being created, or `None` for an unencrypted key.
fn new_key_password(args: &NewKeyArgs, env_var: &str) -> Result<Option<Zeroizing<String>>> {
    if args.no_password {
        return Ok(None);
    }
    // The signing password also falls back to Tauri's variable; the new-key password of `rotate` has only its own.
    let from_env = if env_var == env::PRIVATE_KEY_PASSWORD {
        env::password(process_env)
    } else {
        process_env(env_var).map(Zeroizing::new)
    };
    if let Some(password) = from_env {
        // scrypt over an empty password is no protection, yet the file would say "encrypted secret key".
        if password.is_empty() {
            bail!(
                "`{env_var}` is set but empty: a key encrypted with an empty password is not protected\nhint: set a real password, or pass `--no-password` for a key that says it is not encrypted"
            );
        }
        return Ok(Some(password));
    }
    if !interactive() {
        bail!(
            "no password for the new secret key\nhint: set `{env_var}`, run in a terminal to be asked, or pass `--no-password` for an unencrypted key"
        );
    }
    let first = Zeroizing::new(rpassword::prompt_password("Password for the new secret key: ")?);
    if first.is_empty() {
        bail!("empty password\nhint: pass `--no-password` if you want an unencrypted key");
    }
    let second = Zeroizing::new(rpassword::prompt_password("Password (again): ")?);
    if first != second {
        bail!("the passwords do not match");
    }
    Ok(Some(first))
}

/// Loads and decrypts the signing key from `-k` or the environment.
/// The secret key from `path`, else from the environment (`MILLENNIUM_SIGNING_PRIVATE_KEY`, Tauri's variables); its
/// password from the environment, else a terminal prompt, else the empty password (as Tauri signs). `millennium build`
/// and `millennium release` open their key with this too.
///
/// # Errors
///
/// No key, an unreadable or malformed one, or the wrong password (a [`millennium_sign::Error`] inside the context).
pub fn load_secret_key(path: Option<&Path>) -> Result<SecretKey> {
    let (sealed, origin) = env::secret_key(path, process_env)?;
    let open =
        |password: &str| sealed.open(Some(password)).with_context(|| format!("cannot use the secret key {origin}"));
    if !sealed.is_encrypted() {
        return sealed.open(None).with_context(|| format!("cannot use the secret key {origin}"));
    }
    if let Some(password) = env::password(process_env) {
        return open(&password);
    }
    if interactive() {
        let password = Zeroizing::new(rpassword::prompt_password(format!("Password for the secret key {origin}: "))?);
        return open(&password);
    }
    // Tauri signs with an empty password when none is set; keys made that way must keep working unattended.
    match sealed.open(Some("")) {
        Err(millennium_sign::Error::WrongPassword) => {
            Err(millennium_sign::Error::PasswordRequired).with_context(|| format!("cannot use the secret key {origin}"))
        }
        other => Ok(other?),
    }
}

/// Opens `path` for reading, with a progress bar on large files when a person is watching.
fn open_input(path: &Path, action: &str) -> Result<(Box<dyn Read>, u64)> {
    let file =
        File::open(path).map_err(|source| millennium_sign::Error::Io { action: "open", path: path.into(), source })?;
    let meta = file.metadata().with_context(|| format!("could not read `{}`", path.display()))?;
    if !meta.is_file() {
        bail!("`{}` is not a regular file", path.display());
    }
    let len = meta.len();
    if len >= PROGRESS_THRESHOLD && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(len).with_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("{action} {}", file_name(path)));
        return Ok((Box::new(bar.wrap_read(file)), len));
    }
    Ok((Box::new(file), len))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn sign(args: SignArgs, out: &Output) -> Result<()> {
    if args.output.is_some() && args.files.len() > 1 {
        bail!("`--output` names one signature file, but {} files were given", args.files.len());
    }
    // Check every input before asking for a password or writing anything.
    for file in &args.files {
        let meta = std::fs::metadata(file).map_err(|source| millennium_sign::Error::Io {
            action: "sign",
            path: file.clone(),
            source,
        })?;
        if !meta.is_file() {
            bail!("cannot sign `{}`: not a regular file", file.display());
        }
        if meta.len() == 0 {
            return Err(millennium_sign::Error::EmptyFile { path: file.clone() }.into());
        }
    }
    let secret = load_secret_key(args.key.as_deref())?;
    let timestamp = now();
    let mut results = Vec::new();
    for file in &args.files {
        let comment = TrustedComment::tauri(timestamp, &file_name(file), args.release_version.as_deref())?;
        let (reader, len) = open_input(file, "signing")?;
        if len == 0 {
            return Err(millennium_sign::Error::EmptyFile { path: file.clone() }.into());
        }
        let signature = Signature::sign(&secret, reader, &comment)
            .with_context(|| format!("could not sign `{}`", file.display()))?;
        let sig_path = args.output.clone().unwrap_or_else(|| PathBuf::from(format!("{}.sig", file.display())));
        write_atomic(&sig_path, signature.to_text(args.format).as_bytes(), 0o644, Overwrite::Allow)?;
        out.status(format_args!("signed `{}` -> `{}`", file.display(), sig_path.display()));
        results.push(json!({
            "file": file,
            "signature_path": sig_path,
            "key_id": secret.key_id(),
            "trusted_comment": comment,
            "signature": signature.to_text(Format::Tauri),
        }));
    }
    if out.json {
        out.data("", json!(results))?;
    }
    Ok(())
}

fn read_public_key(value: &str) -> Result<PublicKey> {
    let path = Path::new(value);
    if !value.contains('\n') && path.is_file() {
        let text = std::fs::read_to_string(path).with_context(|| format!("could not read `{value}`"))?;
        return PublicKey::from_text(&text).with_context(|| format!("in `{value}`"));
    }
    PublicKey::from_text(value)
        .with_context(|| format!("`{value}` is neither an existing public key file nor a public key"))
}

fn read_signature(path: &Path) -> Result<Signature> {
    let meta = std::fs::metadata(path).map_err(|source| millennium_sign::Error::Io {
        action: "read signature",
        path: path.into(),
        source,
    })?;
    if meta.len() > 64 * 1024 {
        bail!("`{}` is {} bytes, far larger than any signature", path.display(), meta.len());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("could not read signature `{}`", path.display()))?;
    Signature::from_text(&text).with_context(|| format!("in `{}`", path.display()))
}

fn verify(args: VerifyArgs, out: &Output) -> Result<()> {
    let pinned = read_public_key(&args.public_key)?;
    let key = match &args.chain {
        Some(chain) => {
            let text = std::fs::read_to_string(chain)
                .with_context(|| format!("could not read rotation chain `{}`", chain.display()))?;
            RotationChain::from_text(&text)
                .and_then(|c| c.verify(&pinned))
                .with_context(|| format!("in rotation chain `{}`", chain.display()))?
        }
        None => pinned,
    };
    let sig_path = args.signature.clone().unwrap_or_else(|| {
        let sig = PathBuf::from(format!("{}.sig", args.file.display()));
        let minisig = PathBuf::from(format!("{}.minisig", args.file.display()));
        if !sig.exists() && minisig.exists() { minisig } else { sig }
    });
    let signature = read_signature(&sig_path)?;
    let (reader, _) = open_input(&args.file, "verifying")?;
    signature.verify(&key, reader).with_context(|| format!("`{}`", args.file.display()))?;
    let fields = signature.trusted_fields();
    if let Some(expected) = &args.expect_version {
        fields.check_version(expected, args.require_version)?;
    }
    out.status(format_args!("signature and trusted comment verified (key {})", key.key_id()));
    out.data(
        signature.trusted_comment(),
        json!({
            "verified": true,
            "file": args.file,
            "signature_path": sig_path,
            "key_id": key.key_id(),
            "algorithm": signature.algorithm(),
            "trusted_comment": signature.trusted_comment(),
            "timestamp": fields.timestamp(),
            "signed_file_name": fields.file(),
            "version": fields.version(),
        }),
    )
}

fn rotate(args: RotateArgs, out: &Output) -> Result<()> {
    let old = load_secret_key(args.key.as_deref())?;
    let chain_path = args.chain.clone().unwrap_or_else(|| {
        args.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).join("rotation.chain")
    });
    let mut chain = match std::fs::read_to_string(&chain_path) {
        Ok(text) => RotationChain::from_text(&text).with_context(|| format!("in `{}`", chain_path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => RotationChain::default(),
        Err(e) => {
            return Err(e).with_context(|| format!("could not read `{}`", chain_path.display()));
        }
    };
    if let Some(last) = chain.last_key()
        && last.key_id() != old.key_id()
    {
        bail!(
            "`{}` ends at key {}, not at the key being rotated ({})\nhint: rotate from the newest key, or start a new chain file",
            chain_path.display(),
            last.key_id(),
            old.key_id()
        );
    }
    let password = new_key_password(&args.new_key, NEW_KEY_PASSWORD)?;
    let new = SecretKey::generate()?;
    chain.push(RotationStatement::create(&old, &new.public_key(), now())?);
    let (public_path, mut json) =
        write_key_pair(&new, &args.path, password.as_deref().map(String::as_str), &args.new_key)?;
    write_atomic(&chain_path, chain.to_text().as_bytes(), 0o644, Overwrite::Allow)?;
    out.status(format_args!(
        "rotated key {} -> {}\nwrote `{}`, `{}` and rotation chain `{}` ({} statement(s))",
        old.key_id(),
        new.key_id(),
        args.path.display(),
        public_path.display(),
        chain_path.display(),
        chain.statements().len()
    ));
    json["old_key_id"] = json!(old.key_id());
    json["chain_path"] = json!(chain_path);
    json["chain_length"] = json!(chain.statements().len());
    out.data(format_args!("public key (Tauri `pubkey` form): {}", new.public_key().to_text(Format::Tauri)), json)
}
