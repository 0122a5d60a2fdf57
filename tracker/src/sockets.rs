//! UDP sockets: one per worker and address, sharing the port with
//! SO_REUSEPORT so the kernel spreads datagrams over the workers.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use crate::Error;

/// How long a worker blocks in one receive before it checks for shutdown.
const RECV_TIMEOUT: Duration = Duration::from_millis(100);

/// Binds `workers` sockets per address; with port 0 the first socket picks
/// the port and the others share it. `recv_buffer` is asked for each socket
/// (the kernel may grant less: see [`kernel_recv_buffer_errors`]).
pub(crate) fn bind_sockets(
    addrs: &[SocketAddr],
    workers: usize,
    recv_buffer: usize,
) -> Result<Vec<UdpSocket>, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    if addrs.is_empty() {
        return Err(Error::NoBind);
    }
    let mut warned = false;
    let mut out = Vec::new();
    for &configured in addrs {
        let mut addr = configured;
        for _ in 0..workers {
            let bind = |addr: SocketAddr| -> std::io::Result<(UdpSocket, usize)> {
                let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
                if addr.is_ipv6() {
                    s.set_only_v6(true)?;
                }
                s.set_reuse_port(true)?;
                if recv_buffer > 0 {
                    let _ = s.set_recv_buffer_size(recv_buffer);
                }
                let granted = s.recv_buffer_size().unwrap_or(0);
                s.bind(&addr.into())?;
                let s: UdpSocket = s.into();
                s.set_read_timeout(Some(RECV_TIMEOUT))?;
                Ok((s, granted))
            };
            let (socket, granted) = bind(addr).map_err(|source| Error::Bind {
                addr: configured,
                source,
            })?;
            // Linux reports twice the usable size it granted.
            if recv_buffer > 0 && granted < recv_buffer && !warned {
                warned = true;
                tracing::warn!(
                    asked = recv_buffer,
                    granted,
                    "the kernel capped the UDP receive buffer; raise net.core.rmem_max \
                     (sysctl -w net.core.rmem_max={recv_buffer}) to absorb bursts"
                );
            }
            if addr.port() == 0 {
                addr = socket.local_addr().map_err(|source| Error::Bind {
                    addr: configured,
                    source,
                })?;
            }
            out.push(socket);
        }
    }
    Ok(out)
}

/// Datagrams the kernel dropped because a UDP receive buffer was full, for
/// the whole host (`RcvbufErrors` in `/proc/net/snmp` and `snmp6`): the
/// metric that shows `socket_recv_buffer` binding. `None` off Linux.
pub(crate) fn kernel_recv_buffer_errors() -> Option<u64> {
    let v4 = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut total = udp_rcvbuf_errors_v4(&v4)?;
    if let Ok(v6) = std::fs::read_to_string("/proc/net/snmp6") {
        total += v6
            .lines()
            .find_map(|l| l.strip_prefix("Udp6RcvbufErrors"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// `Udp:` header and value lines of `/proc/net/snmp`, column `RcvbufErrors`.
fn udp_rcvbuf_errors_v4(snmp: &str) -> Option<u64> {
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let header = udp.next()?;
    let values = udp.next()?;
    let column = header
        .split_whitespace()
        .position(|c| c == "RcvbufErrors")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_receive_buffer_error_column() {
        let snmp = "Ip: Forwarding\nIp: 1\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 10 0 3 9 7 0\nUdpLite: InDatagrams\nUdpLite: 0\n";
        assert_eq!(udp_rcvbuf_errors_v4(snmp), Some(7));
        assert_eq!(udp_rcvbuf_errors_v4("Ip: x\nIp: 1\n"), None);
    }

    #[test]
    fn port_zero_is_shared_by_every_worker() {
        let socks = bind_sockets(&["127.0.0.1:0".parse().unwrap()], 3, 1 << 20).unwrap();
        let ports: Vec<u16> = socks
            .iter()
            .map(|s| s.local_addr().unwrap().port())
            .collect();
        assert_eq!(ports.len(), 3);
        assert!(ports.iter().all(|p| *p == ports[0] && *p != 0));
        assert!(matches!(bind_sockets(&[], 1, 0), Err(Error::NoBind)));
    }
}
