rule report:
    input:
        stage_outputs=[
            result(p)
            for stage in pipeline.enabled_stages(STUDY.raw)
            for p in pipeline.OUTPUTS[stage]
            if p.endswith(".json")
        ],
    output:
        html=report(
            f"{REPORTS}/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
        summary=f"{REPORTS}/summary.json",
    params:
        config=stage_config("report"),
    log:
        f"{LOGS}/report.log",
    conda:
        "../envs/twintrial.yaml"
    script:
        "../scripts/report.py"
