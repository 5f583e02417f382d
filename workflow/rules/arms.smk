rule arms:
    input:
        cohort=result("cohort.parquet"),
        posterior=result("twins.nc"),
    output:
        outcomes=result("outcomes.parquet"),
        summary=result("arms.json"),
    params:
        config=stage_config("arms"),
    threads: 2
    log:
        f"{LOGS}/arms.log",
    benchmark:
        result("benchmarks/arms.tsv")
    conda:
        "../envs/twintrial.yaml"
    script:
        "../scripts/arms.py"


rule analysis:
    input:
        outcomes=result("outcomes.parquet"),
        cohort=result("cohort.parquet"),
        arms=result("arms.json"),
    output:
        summary=report(
            result("trial.json"),
            caption="../report/analysis.rst",
            category="Trial results",
        ),
    params:
        config=stage_config("analysis"),
    log:
        f"{LOGS}/analysis.log",
    benchmark:
        result("benchmarks/analysis.tsv")
    conda:
        "../envs/twintrial.yaml"
    script:
        "../scripts/analysis.py"
