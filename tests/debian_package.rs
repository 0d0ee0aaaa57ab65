//! The Debian package (bench/build-deb.sh, cargo-deb): built from the
//! dev-profile binary this test run already has (no release build), unpacked
//! into a temporary root with `dpkg-deb -x`, and checked there: the installed
//! binary runs and accepts the installed configuration, the systemd unit is the
//! hardened one, /etc files are conffiles, the completions and manual pages are
//! in place and the maintainer script creates the `ferrymail` user. The
//! maintainer scripts are read, never run on the host.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).expect("UTF-8 output")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn non_empty(path: &Path) {
    let len = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{} is not installed: {e}", path.display()))
        .len();
    assert!(len > 0, "{} is empty", path.display());
}

/// Builds the package with the repository's script; returns the .deb.
fn build_deb(out_dir: &Path) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let has_cargo_deb = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_cargo_deb,
        "cargo-deb is not installed: run `cargo install cargo-deb --locked --version 3.8.0` (see .ci/run)"
    );
    // The binary under test is the one `cargo test` built: package it as is.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_ferrymail"));
    assert!(bin.exists(), "{} missing", bin.display());
    run(Command::new(repo.join("bench/build-deb.sh"))
        .args(["--dev", "--no-build", "--output"])
        .arg(out_dir)
        .current_dir(repo));
    let debs: Vec<PathBuf> = std::fs::read_dir(out_dir)
        .expect("output folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "one .deb expected, got {debs:?}");
    debs[0].clone()
}

#[test]
fn the_debian_package_installs_a_working_hardened_daemon() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let deb = build_deb(&out_dir);
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("ferrymail_") && name.ends_with(".deb"),
        "{name}"
    );

    // Control fields and conffiles.
    let fields = stdout(
        Command::new("dpkg-deb")
            .arg("-f")
            .arg(&deb)
            .args(["Package", "Section", "Depends"]),
    );
    assert!(fields.contains("Package: ferrymail"), "{fields}");
    assert!(fields.contains("Section: mail"), "{fields}");
    assert!(
        fields.contains("passwd"),
        "useradd comes from passwd: {fields}"
    );
    let conffiles = stdout(
        Command::new("dpkg-deb")
            .arg("-I")
            .arg(&deb)
            .arg("conffiles"),
    );
    for f in [
        "/etc/ferrymail/ferrymail.toml",
        "/etc/ferrymail/domains/example.org.toml.example",
        "/etc/fail2ban/filter.d/ferrymail.conf",
        "/etc/fail2ban/jail.d/ferrymail.conf",
    ] {
        assert!(
            conffiles.lines().any(|l| l.trim() == f),
            "{f} is not a conffile:\n{conffiles}"
        );
    }

    // The maintainer scripts: read, not run.
    let postinst = stdout(Command::new("dpkg-deb").arg("-I").arg(&deb).arg("postinst"));
    for needle in [
        "set -e",
        "groupadd --system ferrymail",
        "useradd --system --gid ferrymail --home-dir /var/lib/ferrymail",
        "--shell /usr/sbin/nologin",
        "chown ferrymail:ferrymail /var/lib/ferrymail",
        "chmod 0700 /var/lib/ferrymail",
    ] {
        assert!(
            postinst.contains(needle),
            "postinst lacks `{needle}`:\n{postinst}"
        );
    }
    let postrm = stdout(Command::new("dpkg-deb").arg("-I").arg(&deb).arg("postrm"));
    assert!(postrm.contains("purge)"), "{postrm}");

    // Unpack into a temporary root.
    let root = tmp.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let bin = root.join("usr/bin/ferrymail");
    let version = stdout(Command::new(&bin).arg("--version"));
    assert!(
        version.starts_with(&format!("ferrymail {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );

    // The hardened unit, pointing at the packaged binary.
    let unit = read(&root.join("usr/lib/systemd/system/ferrymail.service"));
    for line in [
        "ExecStart=/usr/bin/ferrymail serve --config /etc/ferrymail/ferrymail.toml",
        "ExecStartPre=/usr/bin/ferrymail check-config --config /etc/ferrymail/ferrymail.toml",
        "User=ferrymail",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/ferrymail",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "SystemCallFilter=@system-service",
        "UMask=0077",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "unit lacks `{line}`:\n{unit}"
        );
    }
    assert!(!unit.contains("/usr/local/bin"), "{unit}");

    // fail2ban, completions, manual pages.
    non_empty(&root.join("etc/fail2ban/filter.d/ferrymail.conf"));
    non_empty(&root.join("etc/fail2ban/jail.d/ferrymail.conf"));
    let bash = read(&root.join("usr/share/bash-completion/completions/ferrymail"));
    assert!(
        bash.contains("complete -F") && bash.contains("check-config"),
        "bash completion"
    );
    let zsh = read(&root.join("usr/share/zsh/vendor-completions/_ferrymail"));
    assert!(zsh.starts_with("#compdef ferrymail"), "zsh completion");
    let fish = read(&root.join("usr/share/fish/vendor_completions.d/ferrymail.fish"));
    assert!(fish.contains("complete -c ferrymail"), "fish completion");
    let man1 = root.join("usr/share/man/man1");
    for page in [
        "ferrymail",
        "ferrymail-serve",
        "ferrymail-check-config",
        "ferrymail-account-add",
    ] {
        let path = man1.join(format!("{page}.1.gz"));
        let roff = stdout(Command::new("zcat").arg(&path));
        assert!(
            roff.contains(&format!(".TH {page} 1")),
            "{}: not a manual page:\n{roff}",
            path.display()
        );
    }

    // The installed configuration, as the package ships it, passes
    // check-config run by the installed binary. Its absolute paths are moved
    // into the temporary root (data_dir as postinst makes it: mode 0700).
    let etc = root.join("etc/ferrymail");
    let shipped = read(&etc.join("ferrymail.toml"));
    assert!(
        shipped.contains("\ndata_dir = \"/var/lib/ferrymail\"\n"),
        "{shipped}"
    );
    assert!(
        shipped.contains("\ndomains_dir = \"/etc/ferrymail/domains\"\n"),
        "{shipped}"
    );
    let data_dir = root.join("var/lib/ferrymail");
    std::fs::create_dir_all(&data_dir).unwrap();
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let rooted = shipped
        .replace(
            "\ndata_dir = \"/var/lib/ferrymail\"\n",
            &format!("\ndata_dir = {:?}\n", data_dir.display().to_string()),
        )
        .replace(
            "\ndomains_dir = \"/etc/ferrymail/domains\"\n",
            &format!(
                "\ndomains_dir = {:?}\n",
                etc.join("domains").display().to_string()
            ),
        );
    let config = etc.join("ferrymail.toml");
    std::fs::write(&config, rooted).unwrap();
    let report = stdout(
        Command::new(&bin)
            .arg("check-config")
            .arg("--config")
            .arg(&config),
    );
    assert!(report.contains("configuration OK: 0 domain(s)"), "{report}");

    // With the example domain enabled (as the admin would, by renaming it).
    std::fs::copy(
        etc.join("domains/example.org.toml.example"),
        etc.join("domains/example.org.toml"),
    )
    .unwrap();
    let report = stdout(
        Command::new(&bin)
            .arg("check-config")
            .arg("--config")
            .arg(&config),
    );
    assert!(report.contains("configuration OK: 1 domain(s)"), "{report}");
}
