"""The websockets: the candidate's page and HR's dashboards, over one JSON-message socket with limits.

`candidate_ws` joins a candidate to their live interview; `hr_ws` streams a tenant's interviews to dashboards
through the cluster's event bus; `hr_sessions` issues the short-lived tokens HR sockets present; `json_socket`
bounds message size, rate and shape for both.
"""
