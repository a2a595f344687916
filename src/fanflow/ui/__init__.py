"""The fanflow dashboard (`fanflow ui`; needs `pip install "fanflow[ui]"`).

`fanflow.ui.server.serve(host, port)` runs it; `create_app()` builds the ASGI application. Nothing
here is imported by `import fanflow`.
"""
