//! Services as the API server defaults them: `type: ClusterIP`, `sessionAffinity:
//! None`, port `protocol: TCP` and `targetPort` = `port`, a ClusterIP from the
//! service CIDR 10.96.0.0/12 (10.96.0.1 is the `kubernetes` Service's), node
//! ports from 30000-32767 — what `kubectl diff` and Helm see after a create.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde_json::{Map, Value, json};

use crate::error::Cause;

/// The `default/kubernetes` Service's address, the first of the range.
pub const KUBERNETES_IP: &str = "10.96.0.1";
const CIDR_BASE: u32 = u32::from_be_bytes([10, 96, 0, 0]);
const CIDR_SIZE: u32 = 1 << 20;
const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

fn default_field(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.into(), v);
    }
}

/// The defaults of a created Service (allocation aside).
pub fn default_spec(obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let spec = root.entry("spec").or_insert_with(|| json!({}));
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    default_field(spec, "type", json!("ClusterIP"));
    let type_ = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if type_ != "ExternalName" {
        default_field(spec, "sessionAffinity", json!("None"));
        default_field(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if type_ == "NodePort" || type_ == "LoadBalancer" {
        default_field(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if type_ == "LoadBalancer" {
        default_field(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    for p in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
    {
        default_field(p, "protocol", json!("TCP"));
        if let Some(port) = p.get("port").cloned() {
            default_field(p, "targetPort", port);
        }
    }
    root.insert("status".into(), json!({"loadBalancer": {}}));
}

/// Allocate what the spec leaves to the server (cluster IP, node ports),
/// avoiding every value `existing` Services hold.
pub fn allocate(obj: &mut Value, existing: &[Value]) {
    let used_ips: HashSet<&str> = existing
        .iter()
        .filter_map(|s| s.pointer("/spec/clusterIP").and_then(Value::as_str))
        .collect();
    let used_ports: HashSet<i64> = existing
        .iter()
        .flat_map(|s| {
            s.pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|p| p.get("nodePort").and_then(Value::as_i64))
        .collect();
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let type_ = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if type_ == "ExternalName" {
        return;
    }
    let given = spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let ip = given.unwrap_or_else(|| {
        // A random start spreads addresses like the real bitmap allocator; the
        // scan from there makes them unique.
        let start = fastrand::u32(2..CIDR_SIZE - 1);
        (0..CIDR_SIZE - 3)
            .map(|i| 2 + (start - 2 + i) % (CIDR_SIZE - 3))
            .map(|off| Ipv4Addr::from(CIDR_BASE + off).to_string())
            .find(|ip| !used_ips.contains(ip.as_str()))
            .unwrap_or_default()
    });
    spec.insert("clusterIP".into(), json!(ip));
    default_field(spec, "clusterIPs", json!([ip]));
    if ip != "None" {
        default_field(spec, "ipFamilies", json!(["IPv4"]));
    }
    default_field(spec, "ipFamilyPolicy", json!("SingleStack"));
    if type_ == "NodePort" || type_ == "LoadBalancer" {
        let mut taken = used_ports;
        for p in spec
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
        {
            if p.get("nodePort").and_then(Value::as_i64).is_none()
                && let Some(np) = NODE_PORTS.clone().find(|n| !taken.contains(n))
            {
                taken.insert(np);
                p.insert("nodePort".into(), json!(np));
            }
        }
    }
}

/// On update, what the server allocated stays when the client leaves it out
/// (`kubectl apply` of the original manifest), as `patchAllocatedValues` does.
pub fn keep_allocated(new: &mut Value, old: &Value) {
    let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
        if spec.get(f).is_none_or(Value::is_null)
            && let Some(v) = old.pointer(&format!("/spec/{f}"))
        {
            spec.insert(f.into(), v.clone());
        }
    }
    let old_ports: Vec<Value> = old
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for p in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
    {
        if p.contains_key("nodePort") {
            continue;
        }
        let same = old_ports
            .iter()
            .find(|o| o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol"));
        if let Some(np) = same.and_then(|o| o.get("nodePort")) {
            p.insert("nodePort".into(), np.clone());
        }
    }
}

/// `spec.clusterIP` is immutable once set (except to switch to ExternalName).
pub fn validate_update(new: &Value, old: &Value, causes: &mut Vec<Cause>) {
    let ip = |o: &Value| {
        o.pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (n, o) = (ip(new), ip(old));
    let to_external = new.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
    if !o.is_empty() && n != o && !to_external {
        causes.push(Cause::new(
            "FieldValueInvalid",
            format!("Invalid value: {n:?}: field is immutable"),
            "spec.clusterIP",
        ));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_allocation() {
        let mut svc = json!({"spec": {"ports": [{"port": 80}], "selector": {"app": "x"}}});
        default_spec(&mut svc);
        let other = json!({"spec": {"clusterIP": KUBERNETES_IP}});
        allocate(&mut svc, &[other]);
        let spec = &svc["spec"];
        assert_eq!(spec["type"], "ClusterIP");
        assert_eq!(spec["sessionAffinity"], "None");
        assert_eq!(
            spec["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        let ip: Ipv4Addr = spec["clusterIP"].as_str().unwrap().parse().unwrap();
        let n = u32::from(ip);
        assert!((CIDR_BASE + 2..CIDR_BASE + CIDR_SIZE).contains(&n), "{ip}");
        assert_eq!(spec["clusterIPs"], json!([ip.to_string()]));

        let mut headless =
            json!({"spec": {"clusterIP": "None", "ports": [{"port": 5432, "targetPort": "pg"}]}});
        default_spec(&mut headless);
        allocate(&mut headless, &[]);
        assert_eq!(headless["spec"]["clusterIP"], "None");
        assert_eq!(headless["spec"]["ports"][0]["targetPort"], "pg");

        let mut np = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}});
        default_spec(&mut np);
        allocate(
            &mut np,
            &[json!({"spec": {"ports": [{"nodePort": 30000}]}})],
        );
        assert_eq!(np["spec"]["ports"][0]["nodePort"], 30001);
        assert_eq!(np["spec"]["ports"][1]["nodePort"], 30002);
    }
}
