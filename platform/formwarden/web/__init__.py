"""HTML pages and their HTMX partials (blueprints). Views are thin: parse → service → render."""
