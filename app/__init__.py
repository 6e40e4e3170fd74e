"""What the app's pages (pages/, routed by streamlit_app.py) share, over the mnist_cnn core: one module a job."""
