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

/// A TCP port free on 127.0.0.1 right now.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
