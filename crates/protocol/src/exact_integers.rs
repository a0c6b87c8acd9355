//! Finds integer literals that JSON parsing would round. serde_json keeps integers exactly only
//! within 64 bits (`i64`/`u64`); a longer one silently becomes an `f64`, so a stored entity would
//! differ from what the device sent. Frames with such literals are refused instead.

/// The first integer literal in `json` (outside strings) that does not fit in 64 bits, if any.
/// Numbers with a fraction or an exponent are floats by the sender's choice and are not reported.
pub fn first_inexact_integer(json: &str) -> Option<&str> {
    let bytes = json.as_bytes();
    let mut index = 0;
    let mut in_string = false;
    while index < bytes.len() {
        let byte = bytes[index];
        if in_string {
            match byte {
                b'\\' => index += 1,
                b'"' => in_string = false,
                _ => {}
            }
            index += 1;
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                index += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = index;
                index += 1;
                while index < bytes.len()
                    && matches!(bytes[index], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    index += 1;
                }
                let literal = &json[start..index];
                let is_integer = !literal.contains(['.', 'e', 'E']);
                let fits = literal.parse::<i64>().is_ok() || literal.parse::<u64>().is_ok();
                if is_integer && !fits {
                    return Some(literal);
                }
            }
            _ => index += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests;
