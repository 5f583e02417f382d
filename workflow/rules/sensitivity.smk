rule sensitivity:
    input:
        cohort=result("cohort.parquet"),
        posterior=result("twins.nc"),
    output:
        table=result("sensitivity.parquet"),
        summary=report(
            result("sensitivity.json"),
            caption="../report/sensitivity.rst",
            category="Sensitivity",
        ),
    params:
        config=stage_config("sensitivity"),
    threads: 2
    log:
        f"{LOGS}/sensitivity.log",
    benchmark:
        result("benchmarks/sensitivity.tsv")
    conda:
        "../envs/twintrial.yaml"
    script:
        "../scripts/sensitivity.py"
