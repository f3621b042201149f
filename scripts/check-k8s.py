#!/usr/bin/python3
"""Renders every overlay under deploy/k8s/overlays with `kubectl kustomize` and checks that what
it renders can start: every volume, Secret key and ConfigMap key a pod references exists (in the
render, or in the `kubectl create secret` commands of docs/operations.md), mounted Secret files
are readable by the pod's non-root user, probes and Services point at declared ports, the files
the server's config names are mounted, and no secret reaches a command line.

Usage: check-k8s.py REPO_ROOT [--self-test]
  exit 0: all good; 1: problems, one per line; 77: no kubectl.
  --self-test also breaks copies of the manifests in the ways that once shipped (a mounted key
  missing from the documented command, the database URI on a command line, Secret files
  unreadable without fsGroup) and in others it guards against (an item mode nobody can read,
  a patch that no longer applies, TLS behind gRPC probes) and requires each to be caught.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("check-k8s: no PyYAML for /usr/bin/python3 (scripts/install-deps.sh installs python3-yaml)")
    sys.exit(1)

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
# A URI with a password in it: scheme://user:password@host.
PASSWORD_IN_URI = re.compile(r"://[^/\s:@]+:[^@\s]+@")


def documented_secrets(operations_md):
    """{secret name: set of keys} from the `kubectl create secret` commands of the doc."""
    text = open(operations_md).read().replace("\\\n", " ")
    secrets = {}
    for line in text.splitlines():
        match = re.search(r"kubectl create secret (generic|tls) (\S+)(.*)", line)
        if not match:
            continue
        kind, name, rest = match.groups()
        keys = secrets.setdefault(name, set())
        if kind == "tls":
            keys.update({"tls.crt", "tls.key"})
        for flag, value in re.findall(r"--(from-file|from-literal)=(\S+)", rest):
            if flag == "from-literal" or "=" in value:
                keys.add(value.split("=", 1)[0])
            else:
                keys.add(os.path.basename(value))
    return secrets


def render(kubectl, overlay):
    result = subprocess.run([kubectl, "kustomize", overlay], capture_output=True, text=True)
    if result.returncode != 0:
        return None, result.stderr.strip()
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc], None


def config_fields(text):
    """The `field: "value"` pairs of a text-format ServerConfig, nested blocks flattened."""
    fields = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r'(\w+)\s*:\s*"?([^"]*)"?$', line)
        if match:
            fields[match.group(1)] = match.group(2)
        elif re.match(r"tls\s*\{", line):
            fields["tls"] = "block"
    return fields


class Checker:
    def __init__(self, where, docs, documented):
        self.where = where
        self.docs = docs
        self.documented = documented
        self.problems = []
        self.by_kind = {}
        for doc in docs:
            self.by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc

    def problem(self, what):
        self.problems.append(f"{self.where}: {what}")

    def secret_keys(self, name):
        secret = self.by_kind.get("Secret", {}).get(name)
        if secret is not None:
            return set(secret.get("data") or {}) | set(secret.get("stringData") or {})
        return self.documented.get(name)

    def config_map_data(self, name):
        config_map = self.by_kind.get("ConfigMap", {}).get(name)
        return None if config_map is None else (config_map.get("data") or {})

    def check_all(self):
        for kind in WORKLOAD_KINDS:
            for name, workload in self.by_kind.get(kind, {}).items():
                self.check_pod(f"{kind}/{name}", workload["spec"]["template"])
        for name, service in self.by_kind.get("Service", {}).items():
            self.check_service(name, service)
        for name, monitor in self.by_kind.get("ServiceMonitor", {}).items():
            self.check_service_monitor(name, monitor)
        for name, secret in self.by_kind.get("Secret", {}).items():
            values = list((secret.get("stringData") or {}).values())
            if any("REPLACE" in str(value) for value in values):
                self.problem(f"Secret/{name} ships placeholder values (the example Secret)")

    def check_pod(self, where, template):
        spec = template["spec"]
        security = spec.get("securityContext") or {}
        volumes = {volume["name"]: volume for volume in spec.get("volumes") or []}
        for volume in volumes.values():
            self.check_volume(where, volume)
        for container in spec.get("containers") or []:
            container_where = f"{where} container {container['name']}"
            self.check_container(container_where, container, volumes)
            # The container's own runAsUser wins over the pod's.
            user = (container.get("securityContext") or {}).get(
                "runAsUser", security.get("runAsUser", 0))
            for mount in container.get("volumeMounts") or []:
                if mount["name"] in volumes:
                    self.check_readable(container_where, volumes[mount["name"]], user, security)

    def check_readable(self, where, volume, user, security):
        source = volume.get("secret") or volume.get("configMap")
        if source is None or user == 0:
            return
        default_mode = source.get("defaultMode", 0o644)
        # An item's own mode overrides defaultMode for that file.
        modes = {item["path"]: item.get("mode", default_mode) for item in source.get("items") or []}
        modes = modes or {"(every file)": default_mode}
        for path, mode in modes.items():
            if mode & 0o004:
                continue
            if "fsGroup" not in security:
                self.problem(f"{where} volume {volume['name']} {path}: mode {mode:o} without "
                             f"fsGroup leaves the file root-owned and unreadable by uid {user}")
            elif not mode & 0o040:
                self.problem(f"{where} volume {volume['name']} {path}: mode {mode:o} is not "
                             f"readable by uid {user} (neither group nor others)")

    def check_volume(self, where, volume):
        name = volume["name"]
        if "secret" in volume:
            source, secret_name = volume["secret"], volume["secret"]["secretName"]
            keys = self.secret_keys(secret_name)
            if keys is None:
                self.problem(f"{where} volume {name}: Secret {secret_name} is neither rendered "
                             "nor created by a command in docs/operations.md")
                keys = set()
        elif "configMap" in volume:
            source = volume["configMap"]
            data = self.config_map_data(source["name"])
            if data is None:
                self.problem(f"{where} volume {name}: ConfigMap {source['name']} is not rendered")
                data = {}
            keys = set(data)
        else:
            return
        for item in source.get("items") or []:
            if keys and item["key"] not in keys:
                self.problem(f"{where} volume {name}: key {item['key']} is not in "
                             f"{sorted(keys)}")

    def check_container(self, where, container, volumes):
        ports = container.get("ports") or []
        port_names = {port.get("name"): port["containerPort"] for port in ports}
        port_numbers = set(port_names.values())
        secret_env = set()
        for env in container.get("env") or []:
            source = env.get("valueFrom") or {}
            if "secretKeyRef" in source:
                secret_env.add(env["name"])
                ref = source["secretKeyRef"]
                keys = self.secret_keys(ref["name"])
                if keys is None or ref["key"] not in keys:
                    self.problem(f"{where} env {env['name']}: Secret {ref['name']} has no key "
                                 f"{ref['key']} (keys: {sorted(keys or [])})")
            if "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                if ref["key"] not in (self.config_map_data(ref["name"]) or {}):
                    self.problem(f"{where} env {env['name']}: no ConfigMap key {ref['key']}")
            if PASSWORD_IN_URI.search(str(env.get("value", ""))):
                self.problem(f"{where} env {env['name']}: a password in a plain value")
        for word in (container.get("command") or []) + (container.get("args") or []):
            for variable in re.findall(r"\$\((\w+)\)", word):
                if variable in secret_env:
                    self.problem(f"{where}: secret ${variable} on the command line: {word}")
            if PASSWORD_IN_URI.search(word):
                self.problem(f"{where}: a password on the command line: {word}")

        mounts = {}
        for mount in container.get("volumeMounts") or []:
            if mount["name"] not in volumes:
                self.problem(f"{where}: volumeMount {mount['name']} has no volume")
                continue
            mounts[mount["mountPath"].rstrip("/")] = volumes[mount["name"]]

        uses_grpc_probe = False
        for probe_name in PROBES:
            probe = container.get(probe_name)
            if probe is None:
                continue
            handlers = [h for h in ("grpc", "tcpSocket", "httpGet", "exec") if h in probe]
            if len(handlers) != 1:
                self.problem(f"{where} {probe_name}: needs exactly one handler, has {handlers}")
                continue
            uses_grpc_probe |= handlers[0] == "grpc"
            port = probe[handlers[0]].get("port") if handlers[0] != "exec" else None
            if port is not None and port not in port_names and port not in port_numbers:
                self.problem(f"{where} {probe_name}: port {port} is not a container port")

        for word in (container.get("args") or []):
            if word.startswith("--config="):
                self.check_server_config(where, word.split("=", 1)[1], mounts, port_numbers,
                                         uses_grpc_probe, secret_env | self.plain_env(container))

    @staticmethod
    def plain_env(container):
        return {env["name"] for env in container.get("env") or []}

    def mounted_file(self, path, mounts):
        """The file's content for a ConfigMap file, True for a Secret file, None if absent."""
        directory, base = os.path.split(path)
        volume = mounts.get(directory)
        if volume is None:
            return None
        source = volume.get("secret") or volume.get("configMap")
        items = source.get("items")
        if items is not None:
            keys = [item["key"] for item in items if item["path"] == base]
            if not keys:
                return None
            base = keys[0]
        if "configMap" in volume:
            return (self.config_map_data(source["name"]) or {}).get(base)
        keys = self.secret_keys(source["secretName"]) or set()
        return True if base in keys else None

    def check_server_config(self, where, path, mounts, port_numbers, grpc_probes, env):
        text = self.mounted_file(path, mounts)
        if not isinstance(text, str):
            self.problem(f"{where}: --config={path} is not a mounted ConfigMap file")
            return
        fields = config_fields(text)
        for field, value in fields.items():
            if field.endswith("_file") and self.mounted_file(value, mounts) is None:
                self.problem(f"{where}: config {field} {value} is not a mounted file")
        for field in ("device_listen_address", "admin_listen_address", "metrics_listen_address"):
            if field in fields:
                port = int(fields[field].rsplit(":", 1)[1])
                if port not in port_numbers:
                    self.problem(f"{where}: config {field} port {port} is not a container port")
        tls = "tls" in fields
        if not tls and fields.get("allow_insecure") != "true":
            self.problem(f"{where}: plaintext on 0.0.0.0 without allow_insecure: the server "
                         "refuses to start")
        if tls and grpc_probes:
            self.problem(f"{where}: gRPC probes cannot reach a TLS server (use tcpSocket)")
        if "store" not in fields and "COHORT_STORE" not in env:
            self.problem(f"{where}: no store in the config and no $COHORT_STORE")

    def check_service(self, name, service):
        selector = service["spec"].get("selector") or {}
        for kind in WORKLOAD_KINDS - {"Job"}:
            for workload in self.by_kind.get(kind, {}).values():
                template = workload["spec"]["template"]
                labels = template["metadata"].get("labels") or {}
                if selector and all(labels.get(k) == v for k, v in selector.items()):
                    names = {port.get("name"): port["containerPort"]
                             for c in template["spec"]["containers"] for port in c.get("ports") or []}
                    for port in service["spec"]["ports"]:
                        target = port.get("targetPort", port["port"])
                        if target not in names and target not in names.values():
                            self.problem(f"Service/{name} port {port.get('name')}: target "
                                         f"{target} is not a container port")
                    return
        self.problem(f"Service/{name}: selector {selector} matches no pod template")

    def check_service_monitor(self, name, monitor):
        wanted = monitor["spec"]["selector"].get("matchLabels") or {}
        services = [s for s in self.by_kind.get("Service", {}).values()
                    if all((s["metadata"].get("labels") or {}).get(k) == v
                           for k, v in wanted.items())]
        if not services:
            self.problem(f"ServiceMonitor/{name}: selector {wanted} matches no Service")
        for endpoint in monitor["spec"].get("endpoints") or []:
            if not any(endpoint.get("port") == port.get("name")
                       for service in services for port in service["spec"]["ports"]):
                self.problem(f"ServiceMonitor/{name}: port {endpoint.get('port')} is no port of "
                             "the Services it selects")


def check_tree(root, kubectl):
    """The problems found under root (deploy/k8s and docs/operations.md)."""
    k8s = os.path.join(root, "deploy", "k8s")
    documented = documented_secrets(os.path.join(root, "docs", "operations.md"))
    problems = []
    overlays_dir = os.path.join(k8s, "overlays")
    overlays = sorted(os.listdir(overlays_dir))
    if not overlays:
        problems.append("no overlays under deploy/k8s/overlays")
    for overlay in overlays:
        docs, error = render(kubectl, os.path.join(overlays_dir, overlay))
        if docs is None:
            problems.append(f"overlay {overlay}: kubectl kustomize failed: {error}")
            continue
        checker = Checker(f"overlay {overlay}", docs, documented)
        checker.check_all()
        problems += checker.problems
        print(f"check-k8s: overlay {overlay}: {len(docs)} objects "
              f"({', '.join(sorted(d['kind'] + '/' + d['metadata']['name'] for d in docs))})")
    job = [doc for doc in yaml.safe_load_all(open(os.path.join(k8s, "migrate-job.yaml"))) if doc]
    checker = Checker("migrate-job.yaml", job, documented)
    checker.check_all()
    problems += checker.problems
    if not problems:
        print(f"check-k8s: {len(overlays)} overlays and the migration Job check out "
              f"(documented Secrets: {', '.join(sorted(documented))})")
    return problems


# (file under the root, text to replace, replacement, a phrase the problem must contain)
BREAKAGES = [
    ("docs/operations.md", "  --from-file=pseudonym-salt=./pseudonym-salt \\\n", "",
     "key pseudonym-salt is not in"),
    ("deploy/k8s/migrate-job.yaml", 'args: ["migrate"]', 'args: ["migrate", "--store=$(COHORT_STORE)"]',
     "secret $COHORT_STORE on the command line"),
    ("deploy/k8s/base/deployment.yaml", "        fsGroup: 10001\n", "",
     "without fsGroup leaves the file root-owned"),
    ("deploy/k8s/overlays/production/deployment-patch.yaml", "                path: tls.key\n",
     "                path: tls.key\n                mode: 0400\n", "mode 400 is not readable"),
    ("deploy/k8s/overlays/production/kustomization.yaml", "    path: probes-patch.yaml\n",
     "    path: /dev/null\n", "kubectl kustomize failed"),
    ("deploy/k8s/overlays/production/probes-patch.yaml",
     "    tcpSocket:\n      port: device\n    periodSeconds: 10\n",
     "    grpc:\n      port: 8443\n    periodSeconds: 10\n",
     "gRPC probes cannot reach a TLS server"),
]


def self_test(root, kubectl):
    failures = []
    for path, old, new, expected in BREAKAGES:
        with tempfile.TemporaryDirectory() as copy:
            shutil.copytree(os.path.join(root, "deploy"), os.path.join(copy, "deploy"))
            shutil.copytree(os.path.join(root, "docs"), os.path.join(copy, "docs"))
            target = os.path.join(copy, path)
            text = open(target).read()
            if old not in text:
                failures.append(f"self-test: {path} no longer contains {old!r}")
                continue
            open(target, "w").write(text.replace(old, new, 1))
            problems = check_tree(copy, kubectl)
            if not any(expected in problem for problem in problems):
                failures.append(f"self-test: breaking {path} was not caught "
                                f"(wanted {expected!r}, got {problems})")
            else:
                print(f"check-k8s: self-test: breaking {path} is caught")
    return failures


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    kubectl = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not kubectl:
        print("check-k8s: no kubectl (scripts/install-deps.sh installs kubernetes-client)")
        return 77
    problems = check_tree(root, kubectl)
    if "--self-test" in sys.argv[2:]:
        problems += self_test(root, kubectl)
    for problem in problems:
        print(f"check-k8s: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
