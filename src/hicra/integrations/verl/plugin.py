"""Import this module in every verl process to turn on the HICRA trainer hook.

    export VERL_USE_EXTERNAL_MODULES=hicra.integrations.verl.plugin      # driver + local Ray

verl imports the modules named there at the end of `import verl`, in the driver and in every Ray
worker that inherits the variable (pass it through `ray start` or
`+ray_kwargs.ray_init.runtime_env.env_vars.VERL_USE_EXTERNAL_MODULES=...` on a cluster).
Without a `hicra` config section the installed trainers behave exactly like verl's.
"""

from hicra.integrations.verl.trainer import install

INSTALLED = install()
