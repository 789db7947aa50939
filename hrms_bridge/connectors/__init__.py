"""Connectors to the ATSs companies use, one module each, behind one interface (`base.py`): each speaks its ATS's
published protocol for the calls the server owes it (the candidate's entry link, the result); the routes that receive
the ATS's own calls and events live beside the server's other routes (server/web/greenhouse_api.py,
server/integrations/feishu_hire_api.py, server/integrations/moka_api.py)."""
