//! The binary's command line, run as a user would.

use std::process::Command;

mod common;

fn magnetar() -> Command {
    Command::new(env!("CARGO_BIN_EXE_magnetar"))
}

#[test]
fn print_config_output_loads_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let first = magnetar()
        .args(["--data-dir", "/srv/magnetar", "print-config"])
        .env("MAGNETAR_TRACKER__WORKERS", "3")
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8(first.stdout).unwrap();
    assert!(text.contains("workers = 3"), "{text}");
    let file = dir.path().join("magnetar.toml");
    std::fs::write(&file, &text).unwrap();

    let second = magnetar()
        .args(["--config", file.to_str().unwrap(), "print-config"])
        .env_remove("MAGNETAR_TRACKER__WORKERS")
        .output()
        .unwrap();
    assert!(second.status.success());
    assert_eq!(String::from_utf8(second.stdout).unwrap(), text);
}

#[test]
fn bad_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[tracker]\nnope = 1\n").unwrap();
    let out = magnetar()
        .args(["--config", file.to_str().unwrap(), "print-config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn every_subcommand_has_help() {
    for sub in [
        "tracker",
        "crawler",
        "catalog",
        "up",
        "print-config",
        "block",
        "unblock",
    ] {
        let out = magnetar().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: magnetar"),
            "{sub}"
        );
    }
}

#[test]
fn readme_config_reference_matches_print_config() {
    let out = magnetar()
        .arg("print-config")
        .env_remove("MAGNETAR_CONFIG")
        .output()
        .unwrap();
    let printed = String::from_utf8(out.stdout).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("<!-- print-config -->\n```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```\n<!-- /print-config -->").next())
        .expect("README has the print-config block");
    assert_eq!(
        block, printed,
        "regenerate the README block with `magnetar print-config`"
    );
}

/// A log read through a pipe (a file, journald, `| grep`) is plain text:
/// no terminal colour codes around its levels and fields.
#[test]
fn a_log_that_is_not_a_terminal_has_no_colour_codes() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = common::tracker_command(dir.path(), common::free_udp_port())
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (send, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let found = loop {
        match lines.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(line) => {
                let listening = line.contains("tracker listening");
                seen.push(line);
                if listening {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(found, "no 'tracker listening' line: {seen:?}");
    assert!(
        seen.iter().all(|l| !l.contains('\u{1b}')),
        "colour codes in a piped log: {seen:?}"
    );
    assert!(seen.iter().any(|l| l.contains(" INFO ")), "{seen:?}");
}
