//! `FileHandler`'s rotations, as a model: which bytes each generation holds after a batch of
//! records, computed before any file is touched so the batch can be written whole or not at
//! all. `rotate` is `FileHandler.rotate`: from `.N-2` down to `.0`, an existing generation
//! replaces the next one and leaves its own name free; a new `.0` then starts.

/// A generation's content after a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gen {
    Missing,
    /// The file that was generation `i` before, untouched.
    Old(usize),
    /// The old generation 0 with the batch's first segment appended.
    Appended,
    /// A file a rotation (or the opening) started, holding segment `s`.
    New(usize),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// By generation.
    pub gens: Vec<Gen>,
    /// The bytes written between rotations, in order.
    pub segments: Vec<Vec<u8>>,
    /// The byte count after the batch.
    pub meter: u64,
}

fn rotate(gens: &mut [Gen]) {
    for i in (0..gens.len().saturating_sub(1)).rev() {
        if gens[i] != Gen::Missing {
            gens[i + 1] = gens[i];
            gens[i] = Gen::Missing;
        }
    }
}

/// The generations after publishing `records` (encoded), given which generations exist, the
/// byte count so far, and whether the opening rotates first (`append = false`).
pub fn plan(
    existing: &[bool],
    mut meter: u64,
    rotate_first: bool,
    limit: u64,
    records: impl IntoIterator<Item = Vec<u8>>,
) -> Plan {
    let mut gens: Vec<Gen> = (existing.iter().enumerate())
        .map(|(i, e)| if *e { Gen::Old(i) } else { Gen::Missing })
        .collect();
    if rotate_first {
        rotate(&mut gens);
    }
    // With one generation `rotate` moves nothing: the opening still starts the file over.
    gens[0] = if !rotate_first && gens[0] == Gen::Old(0) {
        Gen::Appended
    } else {
        Gen::New(0)
    };
    let mut segments = vec![Vec::new()];
    for bytes in records {
        meter += bytes.len() as u64;
        segments
            .last_mut()
            .expect("one segment at least")
            .extend(bytes);
        if limit > 0 && meter >= limit {
            rotate(&mut gens);
            segments.push(Vec::new());
            gens[0] = Gen::New(segments.len() - 1);
            meter = 0;
        }
    }
    Plan {
        gens,
        segments,
        meter,
    }
}

#[cfg(test)]
mod tests {
    use super::Gen::*;
    use super::*;

    fn records(n: usize, len: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![b'a' + i as u8; len]).collect()
    }

    #[test]
    fn one_generation_keeps_only_what_follows_the_last_rotation() {
        let p = plan(&[true], 95, false, 100, records(4, 5));
        assert_eq!(p.gens, vec![New(1)]);
        assert_eq!(
            p.segments,
            vec![b"aaaaa".to_vec(), b"bbbbbcccccddddd".to_vec()]
        );
        assert_eq!(p.meter, 15);
    }

    #[test]
    fn generations_shift_only_where_they_exist() {
        // .0 and .2 exist, .1 does not: the opening's rotation moves .0 alone (as Java did).
        let p = plan(&[true, false, true], 0, true, 0, records(1, 3));
        assert_eq!(p.gens, vec![New(0), Old(0), Old(2)]);
        // One rotation: .1 moves to .2 (old .2 is gone), the appended .0 to .1.
        let p = plan(&[true, true, true], 2, false, 10, records(3, 4));
        assert_eq!(p.gens, vec![New(1), Appended, Old(1)]);
        assert_eq!(p.segments, vec![b"aaaabbbb".to_vec(), b"cccc".to_vec()]);
        // Two: the appended .0 ends as .2, old .1 and .2 are both gone.
        let p = plan(&[true, true, true], 2, false, 10, records(5, 4));
        assert_eq!(p.gens, vec![New(2), New(1), Appended]);
        assert_eq!(
            p.segments,
            vec![b"aaaabbbb".to_vec(), b"ccccddddeeee".to_vec(), vec![]]
        );
        assert_eq!(p.meter, 0);
    }

    #[test]
    fn append_false_starts_over_with_one_generation() {
        let p = plan(&[true], 0, true, 0, records(1, 3));
        assert_eq!(p.gens, vec![New(0)]);
        assert_eq!(p.segments, vec![b"aaa".to_vec()]);
    }

    #[test]
    fn no_limit_no_rotation() {
        let p = plan(&[false, false], 0, false, 0, records(3, 10_000));
        assert_eq!(p.gens, vec![New(0), Missing]);
        assert_eq!(p.meter, 30_000);
    }
}
