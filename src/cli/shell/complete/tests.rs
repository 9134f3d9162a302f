use serde_json::json;

use super::*;

struct Fake {
    schema: Schema,
    hmp: bool,
    trans: bool,
}

impl Lookup for Fake {
    fn schema(&self) -> Option<&Schema> {
        Some(&self.schema)
    }
    fn hmp(&self) -> bool {
        self.hmp
    }
    fn in_transaction(&self) -> bool {
        self.trans
    }
    fn qom_list(&self, path: &str) -> Vec<(String, String)> {
        let pairs: &[(&str, &str)] = match path {
            "/" => &[
                ("machine", "child<container>"),
                ("objects", "child<container>"),
                ("type", "string"),
            ],
            "/machine" => &[
                ("peripheral", "child<container>"),
                ("rtc", "link<mc146818rtc>"),
                ("kernel", "string"),
            ],
            _ => &[],
        };
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }
    fn drivers(&self) -> Vec<String> {
        vec![
            "virtio-blk-pci".into(),
            "virtio-net-pci".into(),
            "e1000".into(),
        ]
    }
    fn device_properties(&self, driver: &str) -> Vec<(String, String)> {
        assert_eq!(driver, "virtio-net-pci");
        vec![("mac".into(), "str".into()), ("mq".into(), "bool".into())]
    }
    fn hmp_names(&self) -> (Vec<String>, Vec<String>) {
        (
            vec!["cont".into(), "c".into(), "info".into()],
            vec!["status".into(), "block".into()],
        )
    }
}

fn fake() -> Fake {
    let schema = Schema::from_value(&json!([
        {"name": "str", "meta-type": "builtin", "json-type": "string"},
        {"name": "int", "meta-type": "builtin", "json-type": "int"},
        {"name": "bool", "meta-type": "builtin", "json-type": "boolean"},
        {"name": "any", "meta-type": "builtin", "json-type": "value"},
        {"name": "0", "meta-type": "object", "members": []},
        {"name": "blockdev-add", "meta-type": "command", "arg-type": "1", "ret-type": "0"},
        {"name": "blockdev-del", "meta-type": "command", "arg-type": "0", "ret-type": "0"},
        {"name": "1", "meta-type": "object", "tag": "driver",
         "members": [{"name": "driver", "type": "2"},
                     {"name": "read-only", "type": "bool", "default": null}],
         "variants": [{"case": "file", "type": "3"}, {"case": "raw", "type": "4"}]},
        {"name": "2", "meta-type": "enum", "values": ["file", "raw"]},
        {"name": "3", "meta-type": "object",
         "members": [{"name": "filename", "type": "str"}, {"name": "aio", "type": "5", "default": null}]},
        {"name": "4", "meta-type": "object", "members": [{"name": "file", "type": "6"}]},
        {"name": "5", "meta-type": "enum", "values": ["threads", "native", "io_uring"]},
        {"name": "6", "meta-type": "alternate", "members": [{"type": "1"}, {"type": "str"}]},
        {"name": "qom-list", "meta-type": "command", "arg-type": "7", "ret-type": "0"},
        {"name": "qom-set", "meta-type": "command", "arg-type": "9", "ret-type": "0"},
        {"name": "7", "meta-type": "object", "members": [{"name": "path", "type": "str"}]},
        {"name": "9", "meta-type": "object", "members": [{"name": "path", "type": "str"},
            {"name": "property", "type": "str"}, {"name": "value", "type": "any"}]},
        {"name": "device_add", "meta-type": "command", "arg-type": "8", "ret-type": "0"},
        {"name": "8", "meta-type": "object", "members": [{"name": "driver", "type": "str"},
            {"name": "id", "type": "str", "default": null}]},
        {"name": "transaction", "meta-type": "command", "arg-type": "10", "ret-type": "0"},
        {"name": "10", "meta-type": "object", "members": [{"name": "actions", "type": "[11]"}]},
        {"name": "[11]", "meta-type": "array", "element-type": "11"},
        {"name": "11", "meta-type": "object", "tag": "type", "members": [{"name": "type", "type": "12"}],
         "variants": [{"case": "abort", "type": "0"}, {"case": "snap", "type": "13"}]},
        {"name": "12", "meta-type": "enum", "values": ["abort", "snap"]},
        {"name": "13", "meta-type": "object", "members": [{"name": "data", "type": "14"}]},
        {"name": "14", "meta-type": "object", "members": [{"name": "node", "type": "str"},
            {"name": "mode", "type": "5", "default": null}]},
        {"name": "SHUTDOWN", "meta-type": "event", "arg-type": "0"}
    ]))
    .unwrap();
    Fake {
        schema,
        hmp: false,
        trans: false,
    }
}

fn c(l: &Fake, line: &str) -> (usize, Vec<String>) {
    complete(l, line, line.len())
}

#[test]
fn commands_keys_values() {
    let f = fake();
    assert_eq!(
        c(&f, "bloc"),
        (0, vec!["blockdev-add".into(), "blockdev-del".into()])
    );
    assert_eq!(c(&f, "help SH").1, ["SHUTDOWN"]);
    assert_eq!(c(&f, "tra").1, ["transaction", "transaction("]);
    // Keys: the common members, then the variant's once the tag is given.
    assert_eq!(c(&f, "blockdev-add ").1, ["driver=", "read-only="]);
    assert_eq!(
        c(&f, "blockdev-add driver=raw ").1,
        ["file.", "file=", "read-only="]
    );
    assert_eq!(
        c(&f, "blockdev-add driver=raw fi"),
        (24, vec!["file.".into(), "file=".into()])
    );
    // Nested keys, through the alternate's object branch and its variant.
    assert_eq!(
        c(&f, "blockdev-add driver=raw file.driver=file file.").1,
        ["file.filename=", "file.aio=", "file.read-only="]
            .map(String::from)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    // Values: enums, bools.
    assert_eq!(
        c(&f, "blockdev-add driver=").1,
        ["driver=file", "driver=raw"]
    );
    assert_eq!(
        c(&f, "blockdev-add driver=raw file.driver=file file.aio=n").1,
        ["file.aio=native"]
    );
    assert_eq!(
        c(&f, "blockdev-add read-only=").1,
        ["read-only=false", "read-only=true"]
    );
    assert!(c(&f, "blockdev-add read-only:=").1.is_empty());
    assert!(c(&f, "no-such-command ").1.is_empty());
}

#[test]
fn qom_paths_properties_and_drivers() {
    let f = fake();
    assert_eq!(c(&f, "qom-list path=").1, ["path=/"]);
    assert_eq!(
        c(&f, "qom-list path=/").1,
        ["path=/machine", "path=/objects"]
    );
    assert_eq!(
        c(&f, "qom-list path=/machine/").1,
        ["path=/machine/peripheral", "path=/machine/rtc"]
    );
    assert_eq!(
        c(&f, "qom-set path=/machine property=k").1,
        ["property=kernel"]
    );
    assert_eq!(
        c(&f, "device_add driver=virtio-").1,
        ["driver=virtio-blk-pci", "driver=virtio-net-pci"]
    );
    assert_eq!(
        c(&f, "device_add driver=virtio-net-pci m").1,
        ["mac=", "mq="]
    );
}

#[test]
fn transactions_and_hmp() {
    let mut f = fake();
    assert_eq!(c(&f, "transaction( ").1, ["abort", "snap"]);
    assert_eq!(
        c(&f, "transaction( snap ").1,
        ["node=", "mode="]
            .map(String::from)
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    f.trans = true;
    assert_eq!(c(&f, "").1, [")", "abort", "snap"]);
    assert_eq!(c(&f, "snap mode=i").1, ["mode=io_uring"]);
    f.trans = false;
    f.hmp = true;
    assert_eq!(c(&f, "c").1, ["c", "cont"]);
    assert_eq!(c(&f, "info s").1, ["status"]);
    assert!(c(&f, "cont x").1.is_empty());
}
