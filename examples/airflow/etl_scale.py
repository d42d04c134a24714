"""One etl run spread over Airflow workers: plan, one mapped task per unit, commit.

    plan  ->  unit[0], unit[1], ... (dynamic task mapping, `expand`)  ->  commit

`etl plan` writes the run's units (streams, or key ranges of partitioned streams) to a plan
file on storage every worker sees (`ETL_PLAN_DIR`: a shared volume; or copy it to S3 and back
in the commands). Each mapped task stages one unit; a retried task replaces what its earlier
attempt staged, so retries never duplicate rows. `commit` publishes every unit at once and
fails, publishing nothing, if a unit is missing. See README "Running at scale".

Settings (environment of the scheduler and workers, or edit the defaults):
  ETL_BIN               the etl binary (default `etl` on PATH)
  ETL_SPEC              the spec (default /opt/etl/nightly.yaml)
  ETL_PLAN_DIR          where plan files go (default /tmp)
  ETL_UNITS_PER_STREAM  key ranges per partitioned stream (default 8)

Kubernetes instead of local workers: replace the two BashOperators by
`airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator` running the etl image,
e.g.

    unit = KubernetesPodOperator.partial(
        task_id="unit", name="etl-unit", image="registry.example.com/etl:latest",
        cmds=["etl"], retries=2, volumes=[plans_volume], volume_mounts=[plans_mount],
    ).expand(arguments=unit_arguments)      # [["run", SPEC, "--plan", PLAN, "--unit", id], ...]

with `unit_arguments` a @task returning one argument list per unit (as `unit_envs` below does
for the BashOperator), and the commit as one more pod with
`["run", SPEC, "--plan", PLAN, "--commit"]`. The plan file must be on a volume (or bucket)
every pod mounts.
"""

import json
import os
import subprocess

import pendulum
from airflow import DAG
from airflow.decorators import task
from airflow.operators.bash import BashOperator
from airflow.operators.python import get_current_context

ETL = os.environ.get("ETL_BIN", "etl")
SPEC = os.environ.get("ETL_SPEC", "/opt/etl/nightly.yaml")
PLAN_DIR = os.environ.get("ETL_PLAN_DIR", "/tmp")
UNITS_PER_STREAM = os.environ.get("ETL_UNITS_PER_STREAM", "8")

with DAG(
    dag_id="etl_scale",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    schedule=None,
    catchup=False,
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=30)},
    tags=["etl"],
) as dag:

    @task
    def plan() -> dict:
        """`etl plan --json`, saved where every worker reads it; returns its path and units."""
        run_id = get_current_context()["run_id"]
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
        path = os.path.join(PLAN_DIR, f"etl-plan-{safe}.json")
        out = subprocess.run(
            [ETL, "plan", SPEC, "--json", "--units-per-stream", UNITS_PER_STREAM],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        with open(path, "w") as f:
            f.write(out)
        return {"path": path, "units": [u["id"] for u in json.loads(out)["units"]]}

    @task
    def unit_envs(p: dict) -> list:
        """One environment per unit: what each mapped task runs."""
        return [{"ETL_PLAN": p["path"], "ETL_UNIT": u} for u in p["units"]]

    planned = plan()
    units = BashOperator.partial(
        task_id="unit",
        bash_command=f'"{ETL}" run "{SPEC}" --plan "$ETL_PLAN" --unit "$ETL_UNIT"',
        append_env=True,
    ).expand(env=unit_envs(planned))
    commit = BashOperator(
        task_id="commit",
        bash_command=f'"{ETL}" run "{SPEC}" --plan "$ETL_PLAN" --commit',
        env={"ETL_PLAN": "{{ ti.xcom_pull(task_ids='plan')['path'] }}"},
        append_env=True,
    )
    units >> commit
