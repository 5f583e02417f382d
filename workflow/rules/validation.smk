rule validation:
    input:
        data=stage_inputs("validation"),
        cohort=result("cohort.json"),
        twins=result("twins.json"),
    output:
        summary=report(
            result("validation.json"),
            caption="../report/validation.rst",
            category="Validation",
        ),
    params:
        config=stage_config("validation"),
    threads: 2
    log:
        f"{LOGS}/validation.log",
    benchmark:
        result("benchmarks/validation.tsv")
    conda:
        "../envs/twintrial.yaml"
    script:
        "../scripts/validation.py"
