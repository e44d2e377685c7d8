//! JSON fixtures.

use serde_json::{Map, Value};

/// `v` as an object map (the type of berth-core's `pyval::Map`); panics, naming the value,
/// when a fixture is not an object.
pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("test fixture is not a JSON object: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_keeps_its_keys_in_order() {
        let m = obj(json!({"b": 1, "a": 2}));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["b", "a"]);
    }

    #[test]
    #[should_panic(expected = "not a JSON object: [1]")]
    fn anything_else_is_a_broken_fixture() {
        obj(json!([1]));
    }
}
