//! Turning file paths from torrent metadata into safe relative paths.
//!
//! A torrent's `path` list comes from strangers. Every component must be a
//! plain name, so that joining the result to a base directory can never
//! leave it (no `..`, no absolute paths, no drive or UNC prefixes) and the
//! name is portable enough to be created on common filesystems.

use std::path::PathBuf;

/// Longest accepted component, in bytes (the common filesystem limit).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// Deepest accepted path, in components.
pub const MAX_COMPONENTS: usize = 64;

/// Why a path from metadata was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("empty path")]
    Empty,
    #[error("path has more than {MAX_COMPONENTS} components")]
    TooDeep,
    #[error("empty path component")]
    EmptyComponent,
    #[error("path component {0:?} refers to a directory itself or its parent")]
    DotComponent(String),
    #[error("path component contains a separator, NUL or control character")]
    ForbiddenCharacter,
    #[error("path component {0:?} looks like a drive prefix")]
    DrivePrefix(String),
    #[error("path component {0:?} is a reserved device name")]
    ReservedName(String),
    #[error("path component is longer than {MAX_COMPONENT_BYTES} bytes")]
    TooLong,
}

const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Checks one path component and returns it unchanged if it is a plain name.
pub fn check_component(name: &str) -> Result<&str, PathError> {
    checked(name).map(|_| name)
}

/// [`check_component`]'s checks; `Ok(true)` when the name is all ASCII.
fn checked(name: &str) -> Result<bool, PathError> {
    if name.is_empty() {
        return Err(PathError::EmptyComponent);
    }
    if name == "." || name == ".." {
        return Err(PathError::DotComponent(name.to_owned()));
    }
    if name.len() > MAX_COMPONENT_BYTES {
        return Err(PathError::TooLong);
    }
    let b = name.as_bytes();
    // ASCII (most names) is checked byte by byte in one pass; text with
    // other characters is decoded.
    let (mut forbidden, mut ascii) = (false, true);
    for &x in b {
        if !x.is_ascii() {
            ascii = false;
            forbidden = name
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control());
            break;
        }
        if x == b'/' || x == b'\\' || x.is_ascii_control() {
            forbidden = true;
            break;
        }
    }
    if forbidden {
        return Err(PathError::ForbiddenCharacter);
    }
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err(PathError::DrivePrefix(name.to_owned()));
    }
    let stem = name[..b.iter().position(|&x| x == b'.').unwrap_or(b.len())].trim_end();
    // Every reserved name has 3 or 4 letters.
    if (3..=4).contains(&stem.len()) && RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        return Err(PathError::ReservedName(name.to_owned()));
    }
    Ok(ascii)
}

/// Whether [`sanitize_component`] would leave `name` as it is: it passes
/// [`check_component`] and holds nothing a display would misread (ASCII
/// never does).
fn is_plain(name: &str) -> bool {
    match checked(name) {
        Ok(true) => true,
        Ok(false) => !name
            .chars()
            .any(|c| matches!(c, '\u{FFFE}' | '\u{FFFF}') || is_bidi_control(c)),
        Err(_) => false,
    }
}

/// Characters that reorder text when displayed (bidi embeddings,
/// overrides, isolates and marks): dropped, so a name cannot disguise
/// its extension (`evil\u{202E}gpj.exe` shown as `evilexe.jpg`).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Turns any name from metadata into a plain component, the way libtorrent
/// and qBittorrent sanitise file names instead of refusing the torrent:
/// separators, NUL and control characters and the noncharacters U+FFFE and
/// U+FFFF become `_`, bidi controls are dropped, `.`/`..`/empty become
/// `_`, a drive prefix loses its colon, a reserved device name gets a `_`
/// prefix, and the result is cut to [`MAX_COMPONENT_BYTES`] at a character
/// boundary. The result always passes [`check_component`]: this is the one
/// place that decides what every role indexes, shows and writes to disk.
pub fn sanitize_component(raw: &str) -> std::borrow::Cow<'_, str> {
    // Almost every name is plain already: kept as it is, without a copy.
    if is_plain(raw) {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len().min(MAX_COMPONENT_BYTES));
    for c in raw.chars() {
        if out.len() + c.len_utf8() > MAX_COMPONENT_BYTES {
            break;
        }
        match c {
            '/' | '\\' | '\u{FFFE}' | '\u{FFFF}' => out.push('_'),
            c if c.is_control() => out.push('_'),
            c if is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    if out.is_empty() || out == "." || out == ".." {
        return "_".into();
    }
    let b = out.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        out.replace_range(1..2, "_");
    }
    let stem = out.split('.').next().unwrap_or(&out).trim_end();
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
        out.insert(0, '_');
        if out.len() > MAX_COMPONENT_BYTES {
            let mut end = MAX_COMPONENT_BYTES;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
        }
    }
    out.into()
}

/// A relative path from metadata components, each made plain with
/// [`sanitize_component`]; empty components are skipped (as libtorrent
/// does). Fails only for no components or more than [`MAX_COMPONENTS`].
pub fn sanitize_path_lossy<S: AsRef<str>>(components: &[S]) -> Result<PathBuf, PathError> {
    if components.len() > MAX_COMPONENTS {
        return Err(PathError::TooDeep);
    }
    let bytes: usize = components.iter().map(|c| c.as_ref().len() + 1).sum();
    let mut out = PathBuf::with_capacity(bytes);
    for c in components
        .iter()
        .map(AsRef::as_ref)
        .filter(|c| !c.is_empty())
    {
        out.push(sanitize_component(c).as_ref());
    }
    if out.as_os_str().is_empty() {
        return Err(PathError::Empty);
    }
    Ok(out)
}

/// Joins checked components into a relative path, or rejects the whole path.
pub fn sanitize_path<S: AsRef<str>>(components: &[S]) -> Result<PathBuf, PathError> {
    if components.is_empty() {
        return Err(PathError::Empty);
    }
    if components.len() > MAX_COMPONENTS {
        return Err(PathError::TooDeep);
    }
    let mut out = PathBuf::new();
    for c in components {
        out.push(check_component(c.as_ref())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::{Component, Path};

    #[test]
    fn accepts_plain_names() {
        assert_eq!(
            sanitize_path(&["Album", "01 - Intro.flac"]).unwrap(),
            PathBuf::from("Album/01 - Intro.flac")
        );
        assert!(check_component("Movie: The Sequel.mkv").is_ok());
        assert!(check_component(".hidden").is_ok());
        assert!(check_component("console.log").is_ok());
    }

    #[test]
    fn rejects_traversal_and_absolute_paths() {
        assert!(matches!(
            sanitize_path(&["..", "..", "etc", "passwd"]),
            Err(PathError::DotComponent(_))
        ));
        assert!(sanitize_path(&["a", "."]).is_err());
        assert_eq!(
            sanitize_path(&["/etc/passwd"]),
            Err(PathError::ForbiddenCharacter)
        );
        assert_eq!(
            sanitize_path(&["a/../../b"]),
            Err(PathError::ForbiddenCharacter)
        );
        assert_eq!(
            sanitize_path(&["\\\\server\\share"]),
            Err(PathError::ForbiddenCharacter)
        );
        assert!(matches!(
            sanitize_path(&["C:"]),
            Err(PathError::DrivePrefix(_))
        ));
        assert!(matches!(
            sanitize_path(&["c:evil"]),
            Err(PathError::DrivePrefix(_))
        ));
        assert_eq!(sanitize_path::<&str>(&[]), Err(PathError::Empty));
        assert_eq!(sanitize_path(&["a", ""]), Err(PathError::EmptyComponent));
    }

    #[test]
    fn rejects_nul_control_reserved_and_long_names() {
        assert_eq!(check_component("a\0b"), Err(PathError::ForbiddenCharacter));
        assert_eq!(check_component("a\nb"), Err(PathError::ForbiddenCharacter));
        assert_eq!(
            check_component("a\u{7f}"),
            Err(PathError::ForbiddenCharacter)
        );
        assert!(matches!(
            check_component("NUL"),
            Err(PathError::ReservedName(_))
        ));
        assert!(matches!(
            check_component("com1.txt"),
            Err(PathError::ReservedName(_))
        ));
        assert_eq!(check_component(&"x".repeat(256)), Err(PathError::TooLong));
        assert!(check_component(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn hostile_names_become_plain_components() {
        assert_eq!(
            sanitize_component("x <script>alert(1)</script> y"),
            "x <script>alert(1)<_script> y"
        );
        assert_eq!(sanitize_component(".."), "_");
        assert_eq!(sanitize_component(""), "_");
        assert_eq!(sanitize_component("a\0b\nc\u{7f}"), "a_b_c_");
        assert_eq!(sanitize_component("a\\b"), "a_b");
        assert_eq!(sanitize_component("x\u{FFFF}\u{FFFE}"), "x__");
        assert_eq!(sanitize_component("evil\u{202E}gpj.exe"), "evilgpj.exe");
        assert_eq!(sanitize_component("C:evil"), "C_evil");
        assert_eq!(sanitize_component("NUL.txt"), "_NUL.txt");
        let long = "é".repeat(10_000);
        let cut = sanitize_component(&long);
        assert_eq!(cut.len(), 254, "whole characters up to 255 bytes");
        assert_eq!(
            sanitize_component("Amélie (2001)"),
            "Amélie (2001)",
            "plain names unchanged"
        );
        assert_eq!(
            sanitize_path_lossy(&["..", "", "etc", "passwd"]).unwrap(),
            PathBuf::from("_/etc/passwd")
        );
        assert_eq!(
            sanitize_path_lossy::<&str>(&["", ""]),
            Err(PathError::Empty)
        );
    }

    proptest! {
        #[test]
        fn a_component_is_plain_exactly_when_sanitising_keeps_it(raw in any::<String>()) {
            let unchanged = check_component(&raw).is_ok()
                && !raw.chars().any(|c| matches!(c, '\u{FFFE}' | '\u{FFFF}') || is_bidi_control(c));
            prop_assert_eq!(is_plain(&raw), unchanged);
            prop_assert_eq!(sanitize_component(&raw) == raw.as_str(), unchanged);
        }

        #[test]
        fn sanitized_components_always_pass_the_check(raw in any::<String>()) {
            let c = sanitize_component(&raw);
            prop_assert_eq!(check_component(&c), Ok(c.as_ref()));
        }

        #[test]
        fn lossy_paths_never_escape_their_base(parts in proptest::collection::vec(any::<String>(), 0..8)) {
            if let Ok(path) = sanitize_path_lossy(&parts) {
                prop_assert!(path.is_relative());
                prop_assert!(path.components().all(|c| matches!(c, Component::Normal(_))));
            }
        }

        #[test]
        fn output_never_escapes_its_base(parts in proptest::collection::vec(
            prop_oneof![
                Just("..".to_string()),
                Just(".".to_string()),
                Just("/".to_string()),
                Just("C:".to_string()),
                "[a-z./\\\\:\\x00-\\x1f]{0,6}",
                any::<String>(),
            ],
            0..6,
        )) {
            if let Ok(path) = sanitize_path(&parts) {
                prop_assert!(path.is_relative());
                prop_assert!(path.components().all(|c| matches!(c, Component::Normal(_))));
                let base = Path::new("/base/dir");
                let joined = base.join(&path);
                // Lexically normalise and check the prefix is kept.
                let mut depth: i64 = 0;
                for c in path.components() {
                    match c {
                        Component::Normal(_) => depth += 1,
                        _ => depth -= 1,
                    }
                    prop_assert!(depth > 0);
                }
                prop_assert!(joined.starts_with(base));
            }
        }
    }
}
