//! RFC 5228 §2.4.2.4 `encoded-character`: `${hex:40 41}` and `${unicode:1F600}`
//! in strings, decoded once when the script is validated. A malformed
//! sequence stays as written; a code point outside Unicode is an error.

/// Decodes the encoded characters of `s`; Err carries the message.
pub fn decode(s: &str) -> Result<String, String> {
    if !s.contains("${") {
        return Ok(s.to_string());
    }
    let c: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < c.len() {
        if c[i] == '$' && c.get(i + 1) == Some(&'{') {
            if let Some((text, next)) = sequence(&c, i + 2)? {
                out.push_str(&text);
                i = next;
                continue;
            }
        }
        out.push(c[i]);
        i += 1;
    }
    Ok(out)
}

fn starts_with_ci(c: &[char], at: usize, word: &str) -> bool {
    let n = word.chars().count();
    c.len() >= at + n
        && c[at..at + n]
            .iter()
            .zip(word.chars())
            .all(|(a, b)| a.eq_ignore_ascii_case(&b))
}

/// The sequence after `${` at `at`: its decoded text and the index after `}`,
/// or None when it is not a valid encoded character.
fn sequence(c: &[char], at: usize) -> Result<Option<(String, usize)>, String> {
    let (hex, start) = if starts_with_ci(c, at, "hex:") {
        (true, at + 4)
    } else if starts_with_ci(c, at, "unicode:") {
        (false, at + 8)
    } else {
        return Ok(None);
    };
    let Some(end) = c[start..].iter().position(|&x| x == '}').map(|p| start + p) else {
        return Ok(None);
    };
    let inner: String = c[start..end].iter().collect();
    let mut groups = Vec::new();
    for g in inner.split([' ', '\t']).filter(|g| !g.is_empty()) {
        if !g.chars().all(|x| x.is_ascii_hexdigit()) || (hex && g.len() > 2) {
            return Ok(None);
        }
        groups.push(g.to_string());
    }
    if groups.is_empty() {
        return Ok(None);
    }
    let mut text = String::new();
    if hex {
        let bytes: Vec<u8> = groups
            .iter()
            .filter_map(|g| u8::from_str_radix(g, 16).ok())
            .collect();
        match String::from_utf8(bytes) {
            Ok(t) => text = t,
            Err(_) => return Err("${hex:...} does not encode valid UTF-8".into()),
        }
    } else {
        for g in &groups {
            let v = u32::from_str_radix(g.trim_start_matches('0'), 16).unwrap_or(0);
            let g_is_long = g.trim_start_matches('0').len() > 6;
            match char::from_u32(v) {
                Some(ch) if !g_is_long => text.push(ch),
                _ => return Err(format!("${{unicode:{g}}} is not a Unicode code point")),
            }
        }
    }
    Ok(Some((text, end + 1)))
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn rfc_examples() {
        assert_eq!(decode("${hex:24 24}").unwrap(), "$$");
        assert_eq!(decode("${HEX: 24 24 }x").unwrap(), "$$x");
        assert_eq!(decode("${unicode:40}").unwrap(), "@");
        assert_eq!(decode("${unicode: 0000 0040}").unwrap(), "\0@");
        assert_eq!(decode("${hex:c3 bc}").unwrap(), "ü");
        assert_eq!(decode("${hex:xy}").unwrap(), "${hex:xy}");
        assert_eq!(decode("${hex:24").unwrap(), "${hex:24");
        assert_eq!(decode("${other:24}").unwrap(), "${other:24}");
        assert_eq!(
            decode("${hex:}${unicode: }").unwrap(),
            "${hex:}${unicode: }"
        );
        assert!(decode("${unicode:D800}").is_err());
        assert!(decode("${unicode:110000}").is_err());
        assert!(decode("${hex:ff}").is_err());
    }
}
