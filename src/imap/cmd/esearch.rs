//! The ESEARCH response of `SEARCH RETURN (...)` (RFC 4731; with CONDSTORE,
//! its MODSEQ as RFC 7162 §3.1.5 says).

use super::search::Found;
use crate::imap::proto::SearchReturn;
use crate::imap::session::Session;

impl Session {
    /// The answer to `SEARCH`/`SORT RETURN (...)`, `found` in result order:
    /// keeps what SAVE asks for, writes the ESEARCH line (none for SAVE
    /// alone).
    pub(super) fn esearch_answer(
        &mut self,
        tag: &str,
        uid: bool,
        ret: SearchReturn,
        found: &[&Found],
        with_modseq: bool,
    ) {
        if ret.save {
            let uids: Vec<u32> = found.iter().map(|f| f.meta.uid).collect();
            self.saved = saved(ret, &uids);
        }
        let nums: Vec<u32> = found
            .iter()
            .map(|f| if uid { f.meta.uid } else { f.seq })
            .collect();
        let modseqs: Vec<u64> = found.iter().map(|f| f.meta.modseq).collect();
        if let Some(line) = response(tag, uid, ret, &nums, with_modseq.then_some(&modseqs[..])) {
            self.conn.write(line.as_bytes());
        }
    }
}

/// What SEARCHRES keeps of a result (RFC 5182 §2.1): the MIN and/or MAX
/// message when only they were asked for, else all of them (`uids` in
/// result order).
pub fn saved(ret: SearchReturn, uids: &[u32]) -> Vec<u32> {
    if (ret.min || ret.max) && !ret.all && !ret.count {
        let mut v: Vec<u32> = [ret.min.then(|| uids.first()), ret.max.then(|| uids.last())]
            .into_iter()
            .flatten()
            .flatten()
            .copied()
            .collect();
        v.dedup();
        v
    } else {
        uids.to_vec()
    }
}

/// `* ESEARCH (TAG "a") UID MIN 2 MAX 9 ALL 2:4,9 COUNT 4 MODSEQ 17`.
/// `hits` ascending; `modseqs` (parallel to `hits`) when the search used
/// MODSEQ. With no hit only `COUNT 0` is left. `None` for `RETURN (SAVE)`
/// alone, which answers nothing (RFC 5182 §2.1).
pub fn response(
    tag: &str,
    uid: bool,
    ret: SearchReturn,
    hits: &[u32],
    modseqs: Option<&[u64]>,
) -> Option<String> {
    if ret.save && !(ret.min || ret.max || ret.all || ret.count) {
        return None;
    }
    let mut s = format!("* ESEARCH (TAG \"{tag}\")");
    if uid {
        s.push_str(" UID");
    }
    let (first, last) = (hits.first(), hits.last());
    if let (true, Some(m)) = (ret.min, first) {
        s.push_str(&format!(" MIN {m}"));
    }
    if let (true, Some(m)) = (ret.max, last) {
        s.push_str(&format!(" MAX {m}"));
    }
    if ret.all && !hits.is_empty() {
        s.push_str(" ALL ");
        s.push_str(&crate::imap::write::uid_list(hits));
    }
    if ret.count {
        s.push_str(&format!(" COUNT {}", hits.len()));
    }
    if let Some(ms) = modseqs.filter(|m| !m.is_empty()) {
        // Of every match when ALL or COUNT was asked; else of the ones shown.
        let highest = if ret.all || ret.count {
            ms.iter().max().copied()
        } else {
            [ret.min.then(|| ms[0]), ret.max.then(|| ms[ms.len() - 1])]
                .into_iter()
                .flatten()
                .max()
        };
        if let Some(h) = highest {
            s.push_str(&format!(" MODSEQ {h}"));
        }
    }
    s.push_str("\r\n");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ret(min: bool, max: bool, all: bool, count: bool) -> SearchReturn {
        SearchReturn {
            min,
            max,
            all,
            count,
            save: false,
        }
    }

    #[test]
    fn save_alone_answers_nothing_and_keeps_min_max_when_asked() {
        let save = |min, max, all| SearchReturn {
            min,
            max,
            all,
            count: false,
            save: true,
        };
        assert!(response("a", false, save(false, false, false), &[1, 2], None).is_none());
        assert!(response("a", false, save(true, false, false), &[1, 2], None).is_some());
        assert_eq!(saved(save(false, false, false), &[4, 5, 6]), [4, 5, 6]);
        assert_eq!(saved(save(true, true, false), &[4, 5, 6]), [4, 6]);
        assert_eq!(saved(save(false, true, false), &[4, 5, 6]), [6]);
        assert_eq!(saved(save(true, true, true), &[4, 5, 6]), [4, 5, 6]);
        assert_eq!(saved(save(true, true, false), &[]), Vec::<u32>::new());
    }

    #[test]
    fn responses() {
        assert_eq!(
            response("a1", true, ret(true, true, true, true), &[2, 3, 4, 9], None).unwrap(),
            "* ESEARCH (TAG \"a1\") UID MIN 2 MAX 9 ALL 2:4,9 COUNT 4\r\n"
        );
        assert_eq!(
            response("b", false, ret(true, true, true, true), &[], Some(&[])).unwrap(),
            "* ESEARCH (TAG \"b\") COUNT 0\r\n"
        );
        assert_eq!(
            response("c", false, ret(false, false, true, false), &[], None).unwrap(),
            "* ESEARCH (TAG \"c\")\r\n"
        );
        // MODSEQ: of MIN and MAX only, unless ALL or COUNT.
        let ms = [5, 9, 7];
        assert_eq!(
            response(
                "d",
                false,
                ret(true, false, false, false),
                &[1, 2, 3],
                Some(&ms)
            )
            .unwrap(),
            "* ESEARCH (TAG \"d\") MIN 1 MODSEQ 5\r\n"
        );
        assert_eq!(
            response(
                "d",
                false,
                ret(true, true, false, false),
                &[1, 2, 3],
                Some(&ms)
            )
            .unwrap(),
            "* ESEARCH (TAG \"d\") MIN 1 MAX 3 MODSEQ 7\r\n"
        );
        assert_eq!(
            response(
                "d",
                false,
                ret(false, false, false, true),
                &[1, 2, 3],
                Some(&ms)
            )
            .unwrap(),
            "* ESEARCH (TAG \"d\") COUNT 3 MODSEQ 9\r\n"
        );
    }
}
