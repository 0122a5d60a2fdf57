//! The info-hash dump: contents after shutdown, reload after restart.

mod common;

use magnetar_shared::infohash_file::read_infohash_file;
use magnetar_shared::InfoHash;
use magnetar_tracker::protocol::{Event, PeerId};

#[test]
fn dump_holds_exactly_the_announced_hashes_and_survives_restart() {
    let mut t = common::start();
    let mut announced: Vec<InfoHash> = (1..=5u8).map(|n| InfoHash([n; 20])).collect();
    let mut c = t.client(t.v4);
    let mut c6 = t.client(t.v6);
    for (i, h) in announced.iter().enumerate() {
        let client = if i % 2 == 0 { &mut c } else { &mut c6 };
        client
            .announce(*h, PeerId([9; 20]), 7000, 0, Event::Started, -1)
            .unwrap();
    }
    // A scrape of an unknown hash does not add it.
    c.scrape(&[InfoHash([0xee; 20])]).unwrap();
    t.stop();
    let path = t.dir.path().join("infohash.bin");
    announced.sort();
    assert_eq!(read_infohash_file(&path).unwrap(), announced);

    // Restart: the hashes are loaded, and a new one is added to them.
    let dir = std::mem::replace(&mut t.dir, tempfile::tempdir().unwrap());
    let mut t2 = common::start_in(dir);
    let mut c = t2.client(t2.v4);
    let new = InfoHash([0x77; 20]);
    c.announce(new, PeerId([9; 20]), 7000, 0, Event::Started, -1)
        .unwrap();
    t2.stop();
    announced.push(new);
    announced.sort();
    assert_eq!(
        read_infohash_file(&t2.dir.path().join("infohash.bin")).unwrap(),
        announced
    );
}

#[test]
fn a_missing_data_dir_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("not").join("yet");
    let mut config = common::config(&data);
    config.tracker.workers = 1;
    let t = magnetar_tracker::RunningTracker::start(&config).unwrap();
    assert_eq!(t.stop().unwrap(), 0);
    assert!(data.join("infohash.bin").exists());
}
