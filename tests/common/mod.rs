//! Helpers shared by the binary's end-to-end tests.

#![allow(dead_code)]

/// A port free on 127.0.0.1 right now for both UDP and TCP (for a tracker
/// process, which serves its HTTP tracker on the TCP port of the same
/// number as its UDP one).
pub fn free_udp_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Ports for a tracker (UDP and TCP of one number) and a catalog (TCP),
/// free on 127.0.0.1 right now and different from each other (two probes
/// in a row may be handed the same number once the first is let go).
pub fn free_tracker_and_catalog_ports() -> (u16, u16) {
    let tracker = free_udp_port();
    loop {
        let catalog = free_tcp_port();
        if catalog != tracker {
            return (tracker, catalog);
        }
    }
}

/// What a process wrote to `log` and to its `.err` beside it (where the
/// binary prints the error that stopped it), for a failed test's message.
pub fn logs(log: &std::path::Path) -> String {
    let out = std::fs::read_to_string(log).unwrap_or_default();
    let err = std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
    format!("{out}\n--- stderr ---\n{err}")
}

/// A TCP port free on 127.0.0.1 right now.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `magnetar --data-dir DIR tracker --bind 127.0.0.1:PORT`, to spawn.
pub fn tracker_command(dir: &std::path::Path, port: u16) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_magnetar"));
    command
        .arg("--data-dir")
        .arg(dir)
        .args(["tracker", "--bind"])
        .arg(format!("127.0.0.1:{port}"));
    command
}
