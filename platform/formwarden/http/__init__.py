"""HTTP plumbing shared by the HTML pages (web/) and the JSON API (api/): the endpoint guard,
the acting user, error answers, locale and block rendering."""
