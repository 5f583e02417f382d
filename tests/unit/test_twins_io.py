"""Saving and loading the twins DataTree."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from twintrial.exceptions import DataError
from twintrial.twins.io import _netcdf_engine, load_twins, save_twins, warnings_of


def _tree() -> xr.DataTree:
    post = xr.Dataset({"mu_a": (("chain", "draw"), np.arange(6.0).reshape(2, 3)),
                       "z": (("chain", "draw", "patient"), np.ones((2, 3, 2)))},
                      coords={"chain": [0, 1], "draw": [0, 1, 2], "patient": ["p1", "p2"]})
    tree = xr.DataTree.from_dict({"posterior": post})
    tree.attrs["warnings"] = json.dumps(["twins: UNCONVERGED posterior used"])
    return tree


def test_zarr_roundtrip_keeps_attrs_and_drops_z(tmp_path) -> None:
    path = save_twins(_tree(), tmp_path / "twins.zarr")
    back = load_twins(path)
    np.testing.assert_array_equal(back["posterior"]["mu_a"].values, np.arange(6.0).reshape(2, 3))
    assert "z" not in back["posterior"].data_vars
    assert warnings_of(back) == ["twins: UNCONVERGED posterior used"]
    save_twins(_tree(), path)  # overwriting an existing store works


def test_bad_suffix_is_a_data_error(tmp_path) -> None:
    with pytest.raises(DataError, match=r"twins\.h5: twins file must end in \.nc or \.zarr"):
        save_twins(_tree(), tmp_path / "twins.h5")


@pytest.mark.skipif(_netcdf_engine() is not None, reason="a netCDF-4 engine is installed")
def test_netcdf_without_engine_says_what_to_install(tmp_path) -> None:
    with pytest.raises(DataError, match="pip install h5netcdf"):
        save_twins(_tree(), tmp_path / "twins.nc")
    assert not (tmp_path / "twins.nc").exists()


@pytest.mark.skipif(_netcdf_engine() is None, reason="needs h5netcdf (a project dependency)")
def test_netcdf_roundtrip(tmp_path) -> None:
    back = load_twins(save_twins(_tree(), tmp_path / "twins.nc"))
    np.testing.assert_array_equal(back["posterior"]["mu_a"].values, np.arange(6.0).reshape(2, 3))
    assert warnings_of(back) == ["twins: UNCONVERGED posterior used"]
