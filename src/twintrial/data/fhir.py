"""FHIR R4 Bundle adapter: Patient, ResearchSubject, Observation, MedicationAdministration.

- ``Patient``: id (or an identifier value), ``gender`` -> sex, ``birthDate`` -> age at the
  patient's anchor (or an extension whose url ends in ``/age`` with ``valueAge``/``valueQuantity``),
  other covariates from configured extensions (``patient_extensions``).
- ``ResearchSubject``: ``individual`` -> patient, ``actualArm`` -> arm (through ``arm_map``).
- ``Observation``: ``subject`` reference, coded by ``code.coding`` (system + code mapped to a
  variable in config), ``valueQuantity`` (value, UCUM code or unit; ``comparator`` ``<`` marks a
  result below the LLOQ), ``effectiveDateTime`` or a time-offset extension (url ending in
  ``/time-offset``, ``valueQuantity`` in UCUM time units) relative to the anchor.
- ``MedicationAdministration``: ``subject``, ``effectiveDateTime`` or ``effectivePeriod`` (start <
  end makes an infusion), ``dosage.dose``.

Times are relative to each patient's first dated record (``anchor: first_record``) or to a
study-wide date, and converted to the dataset's time unit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twintrial.data import units as U
from twintrial.data.common import resolve_path
from twintrial.data.config import FhirConfig
from twintrial.data.dataset import Dataset, make_dataset
from twintrial.exceptions import DataError

UCUM = "http://unitsofmeasure.org"
_SKIP_STATUS = {"entered-in-error", "cancelled", "not-done"}


def _ref_id(ref: Mapping[str, Any] | None) -> str | None:
    text = (ref or {}).get("reference")
    return text.rsplit("/", 1)[-1] if isinstance(text, str) else None


def _timestamp(text: str) -> pd.Timestamp:
    ts = pd.Timestamp(text)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def _ext(resource: Mapping[str, Any], suffix: str) -> Mapping[str, Any] | None:
    for ext in resource.get("extension") or []:
        if str(ext.get("url", "")).endswith(suffix):
            return ext
    return None


def _quantity_unit(q: Mapping[str, Any]) -> str | None:
    unit = q.get("code") if q.get("system") == UCUM and q.get("code") else q.get("unit")
    return unit if unit is not None else q.get("code")


class _Reader:
    """Collects records and problems while walking a bundle."""

    def __init__(self, cfg: FhirConfig, label: str) -> None:
        self.cfg, self.label = cfg, label
        self.problems: list[str] = []
        self.alias: dict[str, str] = {}  # resource id / fullUrl -> subject id

    def where(self, res: Mapping[str, Any]) -> str:
        return f"{self.label}: {res.get('resourceType')}/{res.get('id', '?')}"

    def patient_id(self, res: Mapping[str, Any]) -> str | None:
        if self.cfg.patient_id == "identifier":
            for ident in res.get("identifier") or []:
                system = self.cfg.identifier_system
                if system is None or ident.get("system") == system:
                    return str(ident.get("value"))
            self.problems.append(f"{self.where(res)}: no identifier"
                                 + (f" with system {self.cfg.identifier_system!r}"
                                    if self.cfg.identifier_system else "")
                                 + ". Set data.fhir.identifier_system or patient_id: id.")
            return None
        return str(res.get("id"))

    def subject(self, res: Mapping[str, Any], key: str = "subject") -> str | None:
        ref = _ref_id(res.get(key))
        sid = self.alias.get(ref) if ref is not None else None
        if sid is None:
            self.problems.append(f"{self.where(res)}: {key} reference {ref!r} is not a Patient "
                                 "in the bundle. Include the Patient resource.")
        return sid

    def when(self, res: Mapping[str, Any]) -> tuple[pd.Timestamp | None, float | None]:
        """Absolute time, or an offset in hours from the anchor."""
        text = res.get("effectiveDateTime") or (res.get("effectivePeriod") or {}).get("start")
        if text:
            try:
                return _timestamp(text), None
            except ValueError:
                self.problems.append(f"{self.where(res)}: effectiveDateTime is not a date; "
                                     f"got {text!r}. Use ISO 8601.")
                return None, None
        ext = _ext(res, "/time-offset")
        if ext is not None:
            q = ext.get("valueQuantity") or {}
            try:
                return None, U.convert(float(q["value"]), _quantity_unit(q) or "", "h")
            except (KeyError, TypeError, ValueError, DataError) as exc:
                self.problems.append(f"{self.where(res)}: bad time-offset extension ({exc}). "
                                     "Give valueQuantity with a value and a UCUM time unit.")
                return None, None
        self.problems.append(f"{self.where(res)}: no effectiveDateTime, effectivePeriod or "
                             "time-offset extension. Every record needs a time.")
        return None, None


def _extension_value(r: _Reader, res: Mapping[str, Any], url: str, unit: str | None) -> Any:
    """A covariate value from the Patient extension ``url`` (``None`` when absent)."""
    ext = next((e for e in res.get("extension") or []
                if e.get("url") == url or str(e.get("url", "")).rsplit("/", 1)[-1] == url), None)
    if ext is None:
        return None
    if "valueQuantity" in ext:
        q = ext["valueQuantity"]
        try:
            return U.convert(float(q["value"]), _quantity_unit(q) or unit or "1", unit or
                             _quantity_unit(q) or "1")
        except (KeyError, TypeError, ValueError, DataError) as exc:
            r.problems.append(f"{r.where(res)}: extension {url!r}: {exc}")
            return None
    for key in ("valueDecimal", "valueInteger"):
        if key in ext:
            return float(ext[key])
    if "valueBoolean" in ext:
        return float(bool(ext["valueBoolean"]))
    for key in ("valueString", "valueCode"):
        if key in ext:
            return str(ext[key])
    r.problems.append(f"{r.where(res)}: extension {url!r} has no supported value[x]. Use "
                      "valueQuantity, valueDecimal, valueInteger, valueBoolean, valueString or "
                      "valueCode.")
    return None


def _patients(r: _Reader, entries: list[tuple[Any, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    pats: dict[str, dict[str, Any]] = {}
    for full_url, res in entries:
        if res.get("resourceType") != "Patient":
            continue
        sid = r.patient_id(res)
        if sid is None:
            continue
        if sid in pats:
            r.problems.append(f"{r.where(res)}: duplicate patient id {sid!r}. Merge the records.")
            continue
        r.alias[str(res.get("id"))] = sid
        if full_url:
            r.alias[str(full_url).rsplit("/", 1)[-1]] = sid
        age_ext = _ext(res, "/age")
        age = None
        if age_ext is not None:
            q = age_ext.get("valueAge") or age_ext.get("valueQuantity") or {}
            age = U.convert(float(q.get("value")), _quantity_unit(q) or "a", "year")
        birth = res.get("birthDate")
        pats[sid] = {"id": sid, "gender": res.get("gender"),
                     "birth": _timestamp(birth) if birth else None, "age": age, "arm": None,
                     "ext": {name: _extension_value(r, res, url, unit)
                             for name, (url, unit) in r.cfg.extensions.items()}}
    return pats


def load_fhir(cfg: FhirConfig, *, time_unit: str = "h", units: Mapping[str, str] | None = None,
              base_dir: str | Path | None = None) -> Dataset:
    """Load a FHIR R4 Bundle (JSON) as a canonical :class:`Dataset`.

    Parameters
    ----------
    cfg
        ``data.fhir``: path, coded observations, anchor, demographics mapping.
    time_unit
        The dataset's time unit.
    units
        Declared units (``data.units``), overriding each code's configured unit.
    base_dir
        Directory the configured path is relative to.
    """
    units = dict(units or {})
    path = resolve_path(cfg.path, base_dir)
    if not path.is_file():
        raise DataError(f"{cfg.path}: file not found. Check data.fhir.path.")
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{cfg.path}: not valid JSON ({exc}). Export the Bundle as JSON.") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        got = bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__
        raise DataError(f"{cfg.path}: resourceType must be 'Bundle'; got {got!r}.")
    entries = [(e.get("fullUrl"), e.get("resource") or {}) for e in bundle.get("entry") or []]
    r = _Reader(cfg, cfg.path)
    pats = _patients(r, entries)
    if r.problems:
        raise DataError(r.problems)
    if not pats:
        raise DataError(f"{cfg.path}: no Patient resources. A bundle needs at least one Patient.")
    codes = {(c.system, c.code): c for c in cfg.codes}
    obs_rows: list[dict[str, Any]] = []
    dose_rows: list[dict[str, Any]] = []
    target = {c.variable: units.get(c.variable, c.unit) for c in cfg.codes}
    amount_unit = U.canonical_unit(units.get("amount", cfg.amount_unit))
    for _, res in entries:
        kind = res.get("resourceType")
        if res.get("status") in _SKIP_STATUS:
            continue
        if kind == "ResearchSubject":
            sid = r.subject(res, "individual")
            if sid is not None and res.get("actualArm"):
                arm = str(res["actualArm"])
                pats[sid]["arm"] = cfg.arm_map.get(arm, arm) if cfg.arm_map else arm
        elif kind == "Observation":
            coding = [(c.get("system"), str(c.get("code")))
                      for c in (res.get("code") or {}).get("coding") or []]
            spec = next((codes[k] for k in coding if k in codes), None)
            if spec is None:
                continue  # not a configured variable
            sid = r.subject(res)
            ts, off = r.when(res)
            q = res.get("valueQuantity") or {}
            if sid is None or (ts is None and off is None):
                continue
            if q.get("value") is None:
                r.problems.append(f"{r.where(res)}: no valueQuantity.value. Give a number.")
                continue
            unit = _quantity_unit(q)
            want = target[spec.variable] or unit
            try:
                value = U.convert(float(q["value"]), unit or "", want, molar_mass=spec.molar_mass)
            except DataError as exc:
                r.problems.append(f"{r.where(res)}: valueQuantity unit {unit!r}: "
                                  f"{str(exc).split(': ', 1)[-1]}")
                continue
            target[spec.variable] = want
            obs_rows.append({"id": sid, "ts": ts, "off": off, "variable": spec.variable,
                             "value": value, "cens": int(q.get("comparator") in ("<", "<="))})
        elif kind == "MedicationAdministration":
            sid = r.subject(res)
            ts, off = r.when(res)
            dose = (res.get("dosage") or {}).get("dose") or {}
            if sid is None or (ts is None and off is None):
                continue
            try:
                amount = U.convert_dose(float(dose["value"]), _quantity_unit(dose) or "",
                                        amount_unit)
            except (KeyError, TypeError, ValueError, DataError) as exc:
                r.problems.append(f"{r.where(res)}: bad dosage.dose ({exc}). Give value and a "
                                  f"mass unit convertible to {amount_unit!r}.")
                continue
            end = (res.get("effectivePeriod") or {}).get("end")
            dur = (_timestamp(end) - ts).total_seconds() / 3600.0 if end and ts is not None else 0.0
            dose_rows.append({"id": sid, "ts": ts, "off": off, "amount": float(amount),
                              "route": "infusion" if dur > 0 else cfg.route, "duration_h": dur})
    if r.problems:
        raise DataError(r.problems)
    # anchors: first dated record per patient, or a study-wide date
    recs = pd.DataFrame([{"id": x["id"], "ts": x["ts"]} for x in obs_rows + dose_rows
                         if x["ts"] is not None], columns=["id", "ts"])
    if cfg.anchor == "first_record":
        anchor = recs.groupby("id")["ts"].min().to_dict() if len(recs) else {}
    else:
        fixed = _timestamp(cfg.anchor)
        anchor = dict.fromkeys(pats, fixed)
    to_tu = U.conversion_factor("h", time_unit)

    def rel_time(rows: list[dict[str, Any]], what: str) -> np.ndarray:
        out = np.empty(len(rows))
        for i, x in enumerate(rows):
            if x["off"] is not None:
                out[i] = x["off"]
            else:
                out[i] = (x["ts"] - anchor[x["id"]]).total_seconds() / 3600.0
        neg = out < 0
        if neg.any():
            raise DataError(f"{cfg.path}: {int(neg.sum())} {what} record(s) before the anchor "
                            f"{cfg.anchor!r}. Use anchor: first_record or an earlier date.")
        return out * to_tu

    obs = pd.DataFrame({"id": [x["id"] for x in obs_rows],
                        "time": rel_time(obs_rows, "Observation"),
                        "variable": [x["variable"] for x in obs_rows],
                        "value": [x["value"] for x in obs_rows],
                        "cens": [x["cens"] for x in obs_rows]})
    doses = pd.DataFrame({"id": [x["id"] for x in dose_rows],
                          "time": rel_time(dose_rows, "MedicationAdministration"),
                          "amount": [x["amount"] for x in dose_rows],
                          "route": [x["route"] for x in dose_rows],
                          "duration": [x["duration_h"] * to_tu for x in dose_rows]})
    subj: dict[str, list[Any]] = {"id": [], "arm": []}
    if cfg.age:
        subj[cfg.age] = []
    if cfg.sex:
        subj[cfg.sex] = []
    for name in cfg.extensions:
        subj[name] = []
    for sid, p in pats.items():
        subj["id"].append(sid)
        subj["arm"].append(p["arm"])
        for name in cfg.extensions:
            subj[name].append(p["ext"][name])
        if cfg.age:
            age = p["age"]
            if p["birth"] is not None and sid in anchor:
                age = (anchor[sid] - p["birth"]).days / 365.25
            subj[cfg.age].append(np.nan if age is None else float(age))
        if cfg.sex:
            g = p["gender"]
            subj[cfg.sex].append(cfg.sex_map.get(g, g) if g is not None else None)
    subjects = pd.DataFrame(subj)
    if cfg.age:
        subjects[cfg.age] = subjects[cfg.age].astype(np.float64)
    if cfg.sex:
        subjects[cfg.sex] = subjects[cfg.sex].astype("str")
    for name in cfg.extensions:
        values = subjects[name]
        numeric = pd.to_numeric(values, errors="coerce")
        subjects[name] = (numeric.astype(np.float64) if numeric.notna().sum() == values.notna().sum()
                          else values.astype("str"))
    out_units = {k: U.canonical_unit(v) for k, v in target.items() if v}
    if dose_rows:
        out_units["amount"] = amount_unit
    if cfg.age:
        out_units[cfg.age] = "year"
    out_units |= {name: U.canonical_unit(unit) for name, (_, unit) in cfg.extensions.items()
                  if unit and U.is_known_unit(unit)}
    return make_dataset(subjects, observations=obs, doses=doses if len(doses) else None,
                        units=out_units, time_unit=time_unit, source={"fhir": cfg.path})
