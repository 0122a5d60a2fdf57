//! Which file-watcher events concern the files a role reloads.

use std::ffi::OsStr;

/// Whether `event` may have changed a file whose name `watched` accepts:
/// a change (not a read: our own reads raise access events) to such a
/// file, or anything the watcher cannot vouch for (an error, or a rescan
/// notice after it dropped events), which are taken as a change.
pub fn concerns(event: &notify::Result<notify::Event>, watched: impl Fn(&OsStr) -> bool) -> bool {
    match event {
        Ok(ev) if ev.need_rescan() => true,
        Ok(ev) if ev.kind.is_access() => false,
        Ok(ev) => ev.paths.iter().any(|p| p.file_name().is_some_and(&watched)),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::concerns;
    use notify::event::{AccessKind, CreateKind, Flag, ModifyKind};
    use notify::{Event, EventKind};
    use std::ffi::OsStr;

    fn named(ev: Event) -> bool {
        concerns(&Ok(ev), |n: &OsStr| n == "denylist")
    }

    #[test]
    fn a_change_to_a_watched_file_concerns_it_and_others_do_not() {
        let written =
            |path: &str| Event::new(EventKind::Modify(ModifyKind::Any)).add_path(path.into());
        assert!(named(written("/data/denylist")));
        assert!(named(
            Event::new(EventKind::Create(CreateKind::File))
                .add_path("/data/other".into())
                .add_path("/data/denylist".into())
        ));
        assert!(!named(written("/data/denylist.tmp.1")));
        assert!(!named(written("/data/other")));
        // Reading the file (as the reload itself does) is no change.
        assert!(!named(
            Event::new(EventKind::Access(AccessKind::Any)).add_path("/data/denylist".into())
        ));
    }

    #[test]
    fn what_the_watcher_cannot_vouch_for_is_taken_as_a_change() {
        // Events were dropped (an inotify queue overflow): no path, and any
        // kind, even an access.
        assert!(named(Event::new(EventKind::Other).set_flag(Flag::Rescan)));
        assert!(named(
            Event::new(EventKind::Access(AccessKind::Any)).set_flag(Flag::Rescan)
        ));
        assert!(concerns(
            &Err(notify::Error::generic("watch lost")),
            |_: &OsStr| false
        ));
    }
}
