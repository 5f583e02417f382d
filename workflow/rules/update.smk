rule update:
    input:
        posterior=result("twins.nc"),
        summary=result("twins.json"),
        new_data=config["twins"]["update_data"],
    output:
        posterior=result("update/twins.nc"),
        summary=result("update/twins.json"),
        changes=result("update/changes.json"),
    params:
        config=stage_config("twins"),
    threads: 2
    log:
        f"{LOGS}/update.log",
    conda:
        "../envs/twintrial.yaml"
    script:
        "../scripts/update.py"
