use super::*;

#[test]
fn decodes_the_captured_pushpin_bodies() {
    assert_eq!(
        decode(b"OPEN\r\n").unwrap(),
        vec![Event::new(EventKind::Open)]
    );
    assert_eq!(
        decode(b"TEXT 5\r\nhello\r\n").unwrap(),
        vec![Event::text("hello")]
    );
    let close = decode(b"CLOSE 5\r\n\x03\xe8bye\r\n").unwrap();
    assert_eq!(close[0].close_code(), Some((1000, "bye".into())));
    let response = b"OPEN\r\nTEXT 27\r\nc:{\"type\":\"subscribe\",\"channel\":\"test\"}\r\n";
    let events = decode(response).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[1].as_text(),
        Some("c:{\"type\":\"subscribe\",\"channel\":\"test\"}")
    );
    // Content on OPEN is allowed (`OPEN 0`), and hex is case-insensitive.
    assert_eq!(
        decode(b"OPEN 0\r\n\r\n").unwrap(),
        vec![Event::new(EventKind::Open)]
    );
    assert_eq!(
        decode(b"BINARY A\r\n0123456789\r\n").unwrap()[0]
            .content
            .len(),
        10
    );
}

#[test]
fn empty_body_is_a_keep_alive() {
    assert_eq!(decode(b"").unwrap(), vec![]);
}

#[test]
fn roundtrip_preserves_binary_content() {
    let events = vec![
        Event::new(EventKind::Open),
        Event::text("m:{\"type\":\"PONG\"}"),
        Event {
            kind: EventKind::Binary,
            content: vec![0, 13, 10, 255],
        },
        Event::close(4001, "token expired"),
        Event::new(EventKind::Disconnect),
    ];
    assert_eq!(decode(&encode(&events)).unwrap(), events);
    assert_eq!(
        encode(&[Event::close(1000, "")]),
        b"CLOSE 2\r\n\x03\xe8\r\n"
    );
}

#[test]
fn malformed_bodies_are_errors() {
    let cases: [(&[u8], DecodeError); 8] = [
        (b"OPEN", DecodeError::UnterminatedHeader(0)),
        (b"HELLO\r\n", DecodeError::UnknownType(0)),
        (b"TEXT zz\r\nhi\r\n", DecodeError::BadLength(0)),
        (b"TEXT \r\nhi\r\n", DecodeError::BadLength(0)),
        (b"TEXT -1\r\nhi\r\n", DecodeError::BadLength(0)),
        (b"TEXT 10\r\nhi\r\n", DecodeError::Truncated(0)),
        (b"TEXT 2\r\nhiXX", DecodeError::MissingContentTerminator(0)),
        (
            b"OPEN\r\nTEXT ffffffffffffffffff\r\n",
            DecodeError::BadLength(6),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            decode(body),
            Err(expected),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap exhaustive sweep over short bodies built from the codec's own alphabet.
    let alphabet: &[u8] = b"OPENTXT 1aF\r\n\x00";
    let mut body = Vec::new();
    for seed in 0u32..20_000 {
        body.clear();
        let mut n = seed;
        while n > 0 {
            body.push(alphabet[(n % alphabet.len() as u32) as usize]);
            n /= alphabet.len() as u32;
        }
        let _ = decode(&body);
    }
}

// Property tests (issue 21): run with `cargo test … -- prop_`; `scripts/fuzz` runs them at
// length. Valid bodies are built from the grammar (docs/protocol.md §7),
// then mutated; every outcome is checked against `spec_decode`, the grammar read directly.
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

const KINDS: [EventKind; 7] = [
    EventKind::Open,
    EventKind::Text,
    EventKind::Binary,
    EventKind::Ping,
    EventKind::Pong,
    EventKind::Close,
    EventKind::Disconnect,
];

/// The codec's own syntax, so random bytes often look like (parts of) events.
const SYNTAX: &[u8] = b"OPENTXBIGCLSDAQ 0123456789abcdefABCDEFxz\r\n\r\n";

/// The grammar, read directly: a header line of at most `MAX_HEADER_LINE - 1` bytes (the
/// decoder's documented bound) ended by the first CRLF; `TYPE` alone, or `TYPE SP HEXLEN`
/// followed by exactly HEXLEN bytes and a CRLF.
fn spec_decode(body: &[u8]) -> Result<Vec<Event>, DecodeError> {
    let mut events = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let rest = &body[at..];
        let window = &rest[..rest.len().min(MAX_HEADER_LINE + 1)];
        let crlf = (0..window.len().saturating_sub(1))
            .find(|&i| window[i] == b'\r' && window[i + 1] == b'\n')
            .ok_or(DecodeError::UnterminatedHeader(at))?;
        let mut parts = rest[..crlf].splitn(2, |&b| b == b' ');
        let word = parts.next().unwrap_or_default();
        let kind = KINDS
            .into_iter()
            .find(|k| k.as_str().as_bytes() == word)
            .ok_or(DecodeError::UnknownType(at))?;
        let content_start = at + crlf + 2;
        let Some(hex) = parts.next() else {
            events.push(Event::new(kind));
            at = content_start;
            continue;
        };
        if hex.is_empty() || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(DecodeError::BadLength(at));
        }
        // At most 26 hex digits fit the line: u128 holds any of them.
        let declared = hex.iter().fold(0u128, |n, &d| {
            n * 16 + u128::from((d as char).to_digit(16).unwrap_or_default())
        });
        if declared > (usize::MAX - content_start) as u128 {
            return Err(DecodeError::BadLength(at));
        }
        let content_end = content_start + declared as usize;
        if content_end > body.len() {
            return Err(DecodeError::Truncated(at));
        }
        if !body[content_end..].starts_with(b"\r\n") {
            return Err(DecodeError::MissingContentTerminator(at));
        }
        events.push(Event {
            kind,
            content: body[content_start..content_end].to_vec(),
        });
        at = content_end + 2;
    }
    Ok(events)
}

/// What `decode` gives back can never be more than the body: no input makes it allocate
/// beyond a constant factor of its own size.
fn assert_bounded(body: &[u8], events: &[Event]) {
    let held: usize = events.iter().map(|e| e.content.len() + 6).sum();
    assert!(
        held <= body.len(),
        "{held} bytes from a {}-byte body",
        body.len()
    );
}

fn small_content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..48),
        vec(proptest::sample::select(SYNTAX), 0..48),
    ]
}

fn content() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        9 => small_content(),
        // Large: a short pattern repeated, up to 128 KiB.
        1 => (vec(any::<u8>(), 1..64), 1usize..2048).prop_map(|(p, n)| p.repeat(n)),
    ]
}

fn kind() -> impl Strategy<Value = EventKind> {
    proptest::sample::select(KINDS.to_vec())
}

fn event() -> impl Strategy<Value = Event> {
    (kind(), content()).prop_map(|(kind, content)| Event { kind, content })
}

fn small_event() -> impl Strategy<Value = Event> {
    (kind(), small_content()).prop_map(|(kind, content)| Event { kind, content })
}

/// One event as a sender may spell it: hex in any case, leading zeros, `0` for no content.
#[derive(Debug, Clone)]
struct Spelled {
    event: Event,
    header: Vec<u8>,
    /// Whether the header carries a length (and so a content and a CRLF follow it).
    has_length: bool,
}

impl Spelled {
    fn bytes(&self) -> Vec<u8> {
        let mut bytes = self.header.clone();
        if self.has_length {
            bytes.extend_from_slice(&self.event.content);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes
    }
}

fn spelled() -> impl Strategy<Value = Spelled> {
    (event(), any::<u64>(), 0usize..8, any::<bool>()).prop_map(
        |(event, case_mask, zeros, explicit_zero)| {
            let has_length = !event.content.is_empty() || explicit_zero;
            let mut header = event.kind.as_str().as_bytes().to_vec();
            if has_length {
                let hex = format!("{:x}", event.content.len());
                let zeros = zeros.min(16 - hex.len());
                header.push(b' ');
                header.extend(std::iter::repeat_n(b'0', zeros));
                header.extend(hex.bytes().enumerate().map(|(i, b)| {
                    if case_mask >> i & 1 == 1 {
                        b.to_ascii_uppercase()
                    } else {
                        b
                    }
                }));
            }
            header.extend_from_slice(b"\r\n");
            Spelled {
                event,
                header,
                has_length,
            }
        },
    )
}

/// A valid body, the events it holds and where each starts.
fn body() -> impl Strategy<Value = (Vec<u8>, Vec<Spelled>, Vec<usize>)> {
    vec(spelled(), 0..8).prop_map(|spelled| {
        let mut body = Vec::new();
        let mut starts = Vec::new();
        for event in &spelled {
            starts.push(body.len());
            body.extend(event.bytes());
        }
        (body, spelled, starts)
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    Replace(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    /// Declare another length for one event (one that has none gets one).
    SetLength(Index, u64),
    /// Another word where one event's type is.
    SetType(Index, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![proptest::sample::select(SYNTAX), any::<u8>()];
    let length = prop_oneof![
        0u64..64,
        any::<u64>(),
        Just(u64::MAX),
        Just(usize::MAX as u64 - 1),
    ];
    let word = prop_oneof![
        "(OPEN|TEXT|BINARY|PING|PONG|CLOSE|DISCONNECT)",
        "(open|text|Text|binary|OPENS|TEX|DISCONNEC|BINARY\t)",
        "[A-Za-z0-9\\-_]{0,10}",
    ];
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), interesting.clone()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<Index>(), vec(interesting, 1..4)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), 1usize..4).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), length).prop_map(|(i, n)| Mutation::SetLength(i, n)),
        (any::<Index>(), word).prop_map(|(i, w)| Mutation::SetType(i, w)),
    ]
}

/// Applies `mutation`; for the structural ones, also what `decode` must answer exactly.
fn mutate(
    body: &[u8],
    events: &[Spelled],
    starts: &[usize],
    mutation: &Mutation,
) -> (Vec<u8>, Option<Result<Vec<Event>, DecodeError>>) {
    let mut out = body.to_vec();
    let position = |i: &Index| i.index(body.len().max(1)).min(body.len());
    match mutation {
        Mutation::FlipBit(i, bit) if !body.is_empty() => out[i.index(body.len())] ^= 1 << bit,
        Mutation::Replace(i, byte) if !body.is_empty() => out[i.index(body.len())] = *byte,
        Mutation::Insert(i, bytes) => {
            let at = position(i);
            out.splice(at..at, bytes.iter().copied());
        }
        Mutation::Delete(i, n) if !body.is_empty() => {
            let at = i.index(body.len());
            out.drain(at..(at + n).min(body.len()));
        }
        Mutation::SetLength(i, declared) if !events.is_empty() => {
            let n = i.index(events.len());
            let start = starts[n];
            let header = format!("{} {declared:x}\r\n", events[n].event.kind.as_str());
            out.splice(start..start + events[n].header.len(), header.bytes());
            let content_start = start + header.len();
            let unchanged =
                events[n].has_length && *declared == events[n].event.content.len() as u64;
            let expected = match (*declared as usize).checked_add(content_start) {
                None => Some(Err(DecodeError::BadLength(start))),
                Some(end) if end > out.len() => Some(Err(DecodeError::Truncated(start))),
                Some(_) if unchanged => Some(Ok(events.iter().map(|s| s.event.clone()).collect())),
                // The content now ends elsewhere: what follows is for `spec_decode` to say.
                Some(_) => None,
            };
            return (out, expected);
        }
        Mutation::SetType(i, word) if !events.is_empty() => {
            let n = i.index(events.len());
            let start = starts[n];
            let old_word = events[n].event.kind.as_str().len();
            out.splice(start..start + old_word, word.bytes());
            let expected = match KINDS.into_iter().find(|k| k.as_str() == word) {
                Some(kind) => Some(Ok(events
                    .iter()
                    .enumerate()
                    .map(|(j, s)| Event {
                        kind: if j == n { kind } else { s.event.kind },
                        content: s.event.content.clone(),
                    })
                    .collect())),
                // A word with no space, CR or LF stays the whole type word.
                None if !word.contains([' ', '\r', '\n']) => {
                    Some(Err(DecodeError::UnknownType(start)))
                }
                None => None,
            };
            return (out, expected);
        }
        _ => {}
    }
    (out, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// encode → decode is the identity for any events with any content, and encode writes
    /// exactly the grammar: `TYPE\r\n` without content, else `TYPE lowerhex\r\nCONTENT\r\n`.
    #[test]
    fn prop_encode_decode_roundtrip(events in vec(event(), 0..12)) {
        let body = encode(&events);
        let mut expected = Vec::new();
        for event in &events {
            expected.extend_from_slice(event.kind.as_str().as_bytes());
            if !event.content.is_empty() {
                expected.extend_from_slice(format!(" {:x}\r\n", event.content.len()).as_bytes());
                expected.extend_from_slice(&event.content);
            }
            expected.extend_from_slice(b"\r\n");
        }
        prop_assert!(body == expected, "encode does not follow the grammar");
        prop_assert_eq!(decode(&body), Ok(events));
    }

    /// Every valid spelling is accepted with its value: any hex case, leading zeros, an
    /// explicit zero length, content that looks like events.
    #[test]
    fn prop_valid_bodies_decode_to_their_events((body, events, _starts) in body()) {
        let expected: Vec<Event> = events.iter().map(|s| s.event.clone()).collect();
        let decoded = decode(&body);
        prop_assert_eq!(&decoded, &Ok(expected));
        prop_assert_eq!(decoded, spec_decode(&body));
    }

    /// A body cut anywhere holds the events before the cut, or fails with the error of the
    /// event the cut falls in, at that event's offset.
    #[test]
    fn prop_truncated_bodies_fail_at_the_cut_event(
        (body, events, starts) in body(),
        cut in any::<Index>(),
    ) {
        let cut = cut.index(body.len() + 1);
        let all: Vec<Event> = events.iter().map(|s| s.event.clone()).collect();
        // The event the cut falls in (or starts): the first starts at 0.
        let n = starts.iter().rposition(|&s| s <= cut).unwrap_or(0);
        let expected = if cut == body.len() {
            Ok(all)
        } else if starts[n] == cut {
            Ok(all[..n].to_vec())
        } else {
            let (start, spelled) = (starts[n], &events[n]);
            let content_start = start + spelled.header.len();
            if cut < content_start {
                Err(DecodeError::UnterminatedHeader(start))
            } else if cut < content_start + spelled.event.content.len() {
                Err(DecodeError::Truncated(start))
            } else {
                Err(DecodeError::MissingContentTerminator(start))
            }
        };
        prop_assert_eq!(decode(&body[..cut]), expected);
    }

    /// A mutated body (a flipped bit, a changed byte, an insertion or deletion, another
    /// declared length or type word) is rejected with the right error, or decodes to what
    /// it now says; a declared length beyond the body is refused before anything is read.
    #[test]
    fn prop_mutated_bodies_decode_as_written(
        (body, events, starts) in body(),
        mutation in mutation(),
    ) {
        let (mutated, expected) = mutate(&body, &events, &starts, &mutation);
        let decoded = decode(&mutated);
        prop_assert_eq!(&decoded, &spec_decode(&mutated));
        if let Some(expected) = expected {
            prop_assert_eq!(&decoded, &expected);
        }
        if let Ok(events) = &decoded {
            assert_bounded(&mutated, events);
        }
    }

    /// A header claiming any length beyond what the body holds (up to `u64::MAX`) is
    /// refused as `Truncated`, or `BadLength` when it overflows: the claim is never
    /// allocated or read, whatever precedes it.
    #[test]
    fn prop_declared_lengths_beyond_the_body_are_refused(
        (prefix, _events, _starts) in body(),
        kind in kind(),
        declared in any::<u64>(),
        tail in vec(any::<u8>(), 0..64),
    ) {
        let header = format!("{} {declared:x}\r\n", kind.as_str());
        let mut body = prefix.clone();
        body.extend_from_slice(header.as_bytes());
        body.extend_from_slice(&tail);
        let content_start = prefix.len() + header.len();
        prop_assume!(declared as u128 > tail.len() as u128);
        let expected = if declared as u128 + content_start as u128 > usize::MAX as u128 {
            DecodeError::BadLength(prefix.len())
        } else {
            DecodeError::Truncated(prefix.len())
        };
        prop_assert_eq!(decode(&body), Err(expected));
    }

    /// Any bytes of any size (up to ~400 KiB): never a panic, the grammar's answer, and
    /// never more held than the body.
    #[test]
    fn prop_arbitrary_bytes_decode_as_the_grammar_says(
        chunk in prop_oneof![
            vec(any::<u8>(), 0..256),
            vec(proptest::sample::select(SYNTAX), 0..256),
            vec(small_event(), 1..4).prop_map(|events| encode(&events)),
        ],
        repeat in prop_oneof![3 => 1usize..4, 1 => 1usize..1600],
        tail in vec(proptest::sample::select(SYNTAX), 0..16),
    ) {
        let mut body = chunk.repeat(repeat);
        body.extend_from_slice(&tail);
        let decoded = decode(&body);
        prop_assert_eq!(&decoded, &spec_decode(&body));
        if let Ok(events) = &decoded {
            assert_bounded(&body, events);
        }
    }
}
