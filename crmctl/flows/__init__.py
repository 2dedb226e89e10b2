"""Flow files: the model, the loader (YAML with positions, staged validation) and note templates.

The engine lives in crmctl.flows.engine. Nothing is imported here, so `import crmctl.flows`
stays cheap for the CLI.
"""
