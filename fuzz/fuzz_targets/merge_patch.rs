//! RFC 7396 merge patch of user attributes (Orgo `PATCH`, Zitadel metadata): core's
//! `merge_attributes` against the RFC's reference algorithm. The input is two JSON values, the
//! target and the patch (objects; anything else is skipped).
//! Invariants: the result equals the reference's; `changed` is true exactly when the target
//! changed; a second application of the same patch changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use usher_core::service::fuzzing::merge_attributes;

/// RFC 7396 section 2, word for word.
fn merge_patch(target: Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut target = match target {
        Value::Object(t) => t,
        _ => Map::new(),
    };
    for (name, value) in patch {
        if value.is_null() {
            target.remove(name);
        } else {
            let current = target.remove(name).unwrap_or(Value::Null);
            target.insert(name.clone(), merge_patch(current, value));
        }
    }
    Value::Object(target)
}

fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().any(has_null),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut values = serde_json::Deserializer::from_slice(data).into_iter::<Value>();
    let (Some(Ok(Value::Object(target))), Some(Ok(Value::Object(patch)))) =
        (values.next(), values.next())
    else {
        return;
    };
    // Stored attributes never hold nulls (a merge removes them), except inside arrays.
    if target.values().any(has_null) {
        return;
    }
    let expected = merge_patch(Value::Object(target.clone()), &Value::Object(patch.clone()));
    let mut merged = target.clone();
    let changed = merge_attributes(&mut merged, &patch);
    assert_eq!(Value::Object(merged.clone()), expected);
    assert_eq!(changed, merged != target);
    let mut again = merged.clone();
    assert!(
        !merge_attributes(&mut again, &patch),
        "a merge patch is idempotent"
    );
    assert_eq!(again, merged);
});
