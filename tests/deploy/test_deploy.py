"""deploy/ against the package: files that parse, commands the CLI accepts, environment variables that
something reads, versions that match, sources that exist. No Docker engine or Kubernetes runs here;
`docker compose config` runs where the docker client has the compose plugin."""

import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import typer.main
import yaml
from ray._private.authentication import authentication_token_setup

from prs_search.api.settings import ApiSettings
from prs_search.cli import app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
PRS_ENV = {f"PRS_{name.upper()}" for name in ApiSettings.model_fields}  # what the settings read
# Ray's own variables that the files set: the cluster address, token authentication.
RAY_ENV = {"RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"}
COMPOSE_SERVICES = {"postgres", "ray-head", "ray-worker", "api", "dashboard"}


def load_yaml(path: Path) -> list[Any]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert docs, f"{path} is empty"
    return docs


def compose() -> dict[str, Any]:
    (doc,) = load_yaml(COMPOSE)
    return dict(doc)


def k8s_docs() -> list[dict[str, Any]]:
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in load_yaml(path)]


def one(kind: str) -> dict[str, Any]:
    (doc,) = [d for d in k8s_docs() if d["kind"] == kind]
    return doc


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) per Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerfile_args() -> dict[str, str]:
    return dict(arg.split("=", 1) for kind, arg in dockerfile() if kind == "ARG" and "=" in arg)


# -- prs-search command lines -------------------------------------------------------------------


def check_cli(args: list[str]) -> None:
    """Parse `prs-search ARGS` the way the CLI does (options, types, required ones), without running it."""
    command: Any = typer.main.get_command(app)
    name, parent = "prs-search", None
    args = [a for a in args if a != "--help"]  # help exits early; what must parse is the command path
    while args:
        ctx = command.make_context(name, list(args), parent=parent)
        if not hasattr(command, "resolve_command"):
            return
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            return
        name, command, args = command.resolve_command(ctx, rest)
        parent = ctx


# `prs-search` where a shell runs it: at a line's start, after `&&` `;` `|` or a quote, after `exec`
# (also `docker compose exec SERVICE`) or ` -- `; not `secret generic prs-search`, `prs-search:latest`.
_COMMAND = re.compile(
    r"""(?:^|[;&|"]|\s--|\bexec|\bexec\s+[\w-]+)\s*prs-search(?=[ \t"]|$)"""  # where it is run
    r"""((?:[ \t]+[^\s&;|"'#]+)*)""",  # its arguments
    re.M,
)


def prs_commands(text: str) -> Iterator[list[str]]:
    """The arguments of every `prs-search` command line in a piece of shell (up to `&&`, `;`, `|`, a quote,
    a comment or the line's end)."""
    for match in _COMMAND.finditer(text):
        yield shlex.split(match.group(1))


def shell_snippets() -> Iterator[tuple[str, str]]:
    """(where, text) of the shell the deploy files show people: README code blocks, and comment lines
    indented past the `#` (`#   docker compose up`; prose comments are `# text`)."""
    for i, block in enumerate(re.findall(r"```(?:bash)?\n(.*?)```", (DEPLOY / "README.md").read_text(), re.S)):
        yield f"README.md block {i + 1}", block
    for path in sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml"), DEPLOY / "Dockerfile"]):
        lines = [line.lstrip() for line in path.read_text().splitlines()]
        yield str(path.relative_to(ROOT)), "\n".join(line[1:].strip() for line in lines if line.startswith("#  "))


def compose_command_lines() -> Iterator[list[str]]:
    """Each service's command as a shell line, with its entrypoint (the image's is `prs-search`)."""
    for name, service in compose()["services"].items():
        if name == "postgres":
            continue
        entrypoint = service.get("entrypoint", ["prs-search"])
        command = service.get("command", [])
        if entrypoint == ["bash", "-c"]:
            for part in " ".join(command).split("&&"):
                words = shlex.split(part)
                yield words[1:] if words[0] == "exec" else words
        else:
            yield [*entrypoint, *command]


def test_every_prs_search_command_in_deploy_is_accepted_by_the_cli() -> None:
    found: list[list[str]] = []
    for line in compose_command_lines():
        if line[0] == "prs-search":
            found.append(line[1:])
        else:
            assert line[:2] == ["ray", "start"], line
    found += list(prs_commands(one("RayJob")["spec"]["entrypoint"]))
    entrypoint = [a for kind, a in dockerfile() if kind in ("ENTRYPOINT", "CMD")]
    assert entrypoint[0] == '["prs-search"]'
    found.append(yaml.safe_load(entrypoint[1]))
    for _, text in shell_snippets():
        found += list(prs_commands(text))
    commands = {args[0] for args in found if args}
    assert {"run", "serve", "dashboard", "searches"} <= commands, commands
    for args in found:
        check_cli(args)


def test_the_entrypoint_is_the_packaged_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "prs-search" in scripts
    assert ("ENTRYPOINT", '["prs-search"]') in dockerfile()


def test_check_cli_catches_what_the_cli_refuses() -> None:
    """The checker itself: an unknown option, a missing required one, a bad type, an unknown command."""
    for bad in (["run", "--dataset", "digits", "--budgit", "3"], ["run", "--dataset", "digits"],
                ["run", "--dataset", "digits", "--budget", "many"], ["launch"]):  # fmt: skip
        with pytest.raises(Exception, match="(?i)option|missing|valid|no such command"):
            check_cli(bad)


# -- environment ----------------------------------------------------------------------------------


def env_names() -> dict[str, set[str]]:
    """Environment variable names each deploy file sets for the processes it starts."""
    names: dict[str, set[str]] = {}
    for name, service in compose()["services"].items():
        if name != "postgres":
            names[f"compose:{name}"] = set(service.get("environment", {}))
    for doc in k8s_docs():
        for container in _containers(doc):
            names[f"k8s:{doc['metadata']['name']}:{container['name']}"] = {e["name"] for e in container.get("env", [])}
    options = " ".join(yaml.safe_load((DEPLOY / "ray-cluster.yaml").read_text())["docker"]["run_options"])
    names["ray-cluster.yaml"] = set(re.findall(r"--env\s+([A-Z_]+)=", options))
    names["Dockerfile"] = {
        part.split("=", 1)[0] for kind, args in dockerfile() if kind == "ENV" for part in args.split() if "=" in part
    }
    return names


def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec", {})
    for group in [spec.get("headGroupSpec"), *spec.get("workerGroupSpecs", [])]:
        if group:
            yield from group["template"]["spec"]["containers"]


def test_environment_variables_are_ones_something_reads() -> None:
    ray_sources = Path(ray.exceptions.__file__).read_text() + Path(authentication_token_setup.__file__).read_text()
    for name in RAY_ENV - {"RAY_ADDRESS"}:
        assert name in ray_sources, f"Ray no longer mentions {name}"
    run = next(p for p in typer.main.get_command(app).commands["run"].params if p.name == "ray_address")
    assert run.envvar == "RAY_ADDRESS"
    for where, names in env_names().items():
        for name in names:
            if name.startswith("PRS_"):
                assert name in PRS_ENV, f"{where}: {name} is not a setting ({sorted(PRS_ENV)})"
            if name.startswith("RAY_"):
                assert name in RAY_ENV, f"{where}: {name} is not one of Ray's variables this project uses"


def test_every_ray_node_and_driver_has_token_auth_and_the_shared_storage() -> None:
    services = compose()["services"]
    for name in ("ray-head", "ray-worker", "ray-gpu-worker", "api"):
        env = services[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"].startswith("${RAY_AUTH_TOKEN:?"), name
        mount = {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}
        assert mount.get("/shared") == "shared" and env["PRS_STORAGE_PATH"].startswith("/shared/"), name
    head_port = next(a for a in services["ray-head"]["command"] if a.startswith("--port=")).split("=")[1]
    assert services["api"]["environment"]["RAY_ADDRESS"] == services["ray-head"]["environment"]["RAY_ADDRESS"]
    assert services["api"]["environment"]["RAY_ADDRESS"] == f"ray-head:{head_port}"

    cluster = one("RayCluster")
    assert cluster["spec"]["authOptions"]["mode"] == "token"
    claim = one("PersistentVolumeClaim")
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    for group in [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]:
        volumes = {v["name"]: v for v in group["template"]["spec"]["volumes"]}
        (container,) = group["template"]["spec"]["containers"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        shared = next(n for n, v in volumes.items() if v.get("persistentVolumeClaim"))
        assert volumes[shared]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["PRS_STORAGE_PATH"].startswith(mounts[shared] + "/")

    options = yaml.safe_load((DEPLOY / "ray-cluster.yaml").read_text())["docker"]["run_options"]
    assert "--env RAY_AUTH_MODE=token" in options and any("RAY_AUTH_TOKEN_PATH" in o for o in options)


# -- files -----------------------------------------------------------------------------------------


def test_yaml_files_parse_with_the_keys_their_tools_need() -> None:
    for doc in k8s_docs():
        assert {"apiVersion", "kind", "metadata"} <= set(doc), doc
        assert doc["metadata"].get("name")
    kinds = {d["kind"]: d["apiVersion"] for d in k8s_docs()}
    assert kinds == {"PersistentVolumeClaim": "v1", "RayCluster": "ray.io/v1", "RayJob": "ray.io/v1"}
    cluster = one("RayCluster")
    assert cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"]
    assert all(g["groupName"] and g["template"]["spec"]["containers"] for g in cluster["spec"]["workerGroupSpecs"])
    assert one("RayJob")["spec"]["clusterSelector"]["ray.io/cluster"] == cluster["metadata"]["name"]
    assert set(compose()["services"]) >= COMPOSE_SERVICES
    for name in compose()["services"]:
        assert name == "postgres" or compose()["services"][name]["image"].startswith("${PRS_IMAGE:-"), name


def test_ray_up_config_passes_rays_own_validation() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((DEPLOY / "ray-cluster.yaml").read_text())
    validate_config(prepare_config(config))  # Ray's schema and its checks, as `ray up` runs them
    assert config["provider"]["type"] == "local"
    assert {"head_ip", "worker_ips"} <= set(config["provider"])
    assert "--entrypoint=" in config["docker"]["run_options"]  # Ray runs its own commands in the container
    assert any(c.startswith("ray start --head") for c in config["head_start_ray_commands"])
    assert any(c.startswith("ray start --address") for c in config["worker_start_ray_commands"])


def test_versions_agree_with_the_installed_packages() -> None:
    import torch
    import torchvision

    args = dockerfile_args()
    assert args["RAY_VERSION"] == ray.__version__ == one("RayCluster")["spec"]["rayVersion"]
    assert args["TORCH_VERSION"] == torch.__version__.split("+")[0]
    assert args["TORCHVISION_VERSION"] == torchvision.__version__.split("+")[0]
    assert args["PYTHON_IMAGE"].startswith("python:3.11")


def test_dockerfile_copies_files_that_exist_and_are_not_ignored() -> None:
    sources = [src for kind, args in dockerfile() if kind == "COPY" for src in args.split()[:-1]]
    assert sources
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for src in sources:
        assert (ROOT / src).exists(), f"COPY {src}: no such file in the build context (the repository root)"
        assert f"!{src.rstrip('/')}" in {line.rstrip("/") for line in ignore}, f"{src} is excluded from the context"
    assert "pyproject.toml" in sources and "prs_search" in [s.rstrip("/").split("/")[-1] for s in sources]
    build = compose()["services"]["ray-head"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"


def test_readme_points_at_files_that_exist() -> None:
    text = (DEPLOY / "README.md").read_text()
    paths = set(re.findall(r"`((?:tests|deploy)/[\w./-]+)`", text))
    assert paths
    for path in paths:
        assert (ROOT / path).exists(), path
    for name in ("Dockerfile", "docker-compose.yml", "k8s/", "ray-cluster.yaml", "env.example"):
        assert (DEPLOY / name).exists() and name in text


def test_docker_compose_config() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("no docker client with the compose plugin on this machine (`docker compose` is unknown)")
    env = {"POSTGRES_PASSWORD": "x", "RAY_AUTH_TOKEN": "y", "PRS_API_TOKEN": "z" * 16, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "--profile", "gpu", "--profile", "dashboard", "config", "--quiet"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


# -- safety of what the files tell people to run ----------------------------------------------------


def documented_commands() -> Iterator[tuple[str, list[str]]]:
    """(where, arguments) of every `prs-search` command the docs and the deploy files show or run."""
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for path in docs:
        for block in re.findall(r"```(?:bash)?\n(.*?)```", path.read_text(), re.S):
            for args in prs_commands(block.replace("\\\n", " ")):  # continuation lines joined
                yield str(path.relative_to(ROOT)), args
    for where, text in shell_snippets():
        for args in prs_commands(text):
            yield where, args
    for args in prs_commands(one("RayJob")["spec"]["entrypoint"]):
        yield "k8s RayJob", args
    for line in compose_command_lines():
        if line[0] == "prs-search":
            yield "docker-compose.yml", line[1:]


def test_no_command_puts_the_database_url_on_its_command_line() -> None:
    """`--db URL` shows the password to anyone who runs `ps`: the files pass it in the environment."""
    found = list(documented_commands())
    assert len(found) > 10
    for where, args in found:
        assert "--db" not in args, (where, args)


def test_optuna_dashboard_is_never_told_to_listen_beyond_loopback() -> None:
    """It has no authentication and can delete studies."""
    for where, args in documented_commands():
        if args and args[0] == "dashboard" and where != "docker-compose.yml":
            assert "0.0.0.0" not in args, where
    texts = [ROOT / "README.md", DEPLOY / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for path in texts:
        assert not re.search(r"dashboard[^\n`]*--host[ =]0\.0\.0\.0", path.read_text()), path
    # Compose: inside its container it must listen on the container's interface, so it starts only on
    # request and is published on the host's loopback only.
    services = compose()["services"]
    dashboard = services["dashboard"]
    assert dashboard["profiles"] == ["dashboard"]
    assert all(str(port).startswith("127.0.0.1:") for port in dashboard["ports"])
    # Nor is it reached from another container (a Ray worker runs whatever a trial runs): it shares a
    # network with PostgreSQL only.
    neighbours = {
        name for name, service in services.items()
        if name != "dashboard" and _networks(service) & _networks(dashboard)
    }  # fmt: skip
    assert neighbours == {"postgres"}, neighbours


def _networks(service: dict[str, Any]) -> set[str]:
    """The compose networks a service joins (a list or a mapping of them; none named: `default`)."""
    return set(service.get("networks") or ["default"])


def test_every_kubernetes_container_runs_unprivileged() -> None:
    cluster = one("RayCluster")
    groups = [cluster["spec"]["headGroupSpec"], *cluster["spec"]["workerGroupSpecs"]]
    for group in groups:
        pod = group["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["capabilities"]["drop"] == ["ALL"]
    assert "USER prs" in {f"{kind} {args}" for kind, args in dockerfile()}  # the image's user is that uid
