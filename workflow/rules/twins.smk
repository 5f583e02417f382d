rule twins:
    input:
        data=stage_inputs("twins"),
    output:
        posterior=result("twins.nc"),
        summary=report(
            result("twins.json"),
            caption="../report/twins.rst",
            category="Twins",
        ),
    params:
        config=stage_config("twins"),
    threads: 2
    log:
        f"{LOGS}/twins.log",
    benchmark:
        result("benchmarks/twins.tsv")
    conda:
        "../envs/twintrial.yaml"
    script:
        "../scripts/twins.py"
