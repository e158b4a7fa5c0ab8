"""Every test run can use the real engines and fleet (see codegram_devstack.pytest_plugin)."""

pytest_plugins = ["codegram_devstack.pytest_plugin"]
